// Interop helper for the verify package's tests: Node's jose library signs
// access tokens for the Go verifier, and verifies tokens the Go tests sign.
//
//   node interop.mjs sign   < {"alg","kid","claims"}
//       -> {"token","jwk"}: a fresh key pair, its public JWK and a token
//   node interop.mjs verify < {"token","jwks_url","issuer","audience","now"}
//       -> the verified claims, or exit status 1 with the error on stderr
import * as jose from 'jose';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));

switch (process.argv[2]) {
  case 'sign': {
    const opts = { extractable: true };
    if (input.alg === 'EdDSA') opts.crv = 'Ed25519';
    const { publicKey, privateKey } = await jose.generateKeyPair(input.alg, opts);
    const jwk = await jose.exportJWK(publicKey);
    Object.assign(jwk, { kid: input.kid, alg: input.alg, use: 'sig' });
    const token = await new jose.SignJWT(input.claims)
      .setProtectedHeader({ alg: input.alg, kid: input.kid, typ: 'at+jwt' })
      .sign(privateKey);
    process.stdout.write(JSON.stringify({ token, jwk }));
    break;
  }
  case 'verify': {
    const jwks = jose.createRemoteJWKSet(new URL(input.jwks_url));
    try {
      const { payload } = await jose.jwtVerify(input.token, jwks, {
        issuer: input.issuer,
        audience: input.audience,
        typ: 'at+jwt',
        algorithms: ['EdDSA', 'ES256'],
        requiredClaims: ['exp', 'iat', 'sub', 'jti', 'sid'],
        currentDate: new Date(input.now * 1000),
      });
      process.stdout.write(JSON.stringify(payload));
    } catch (e) {
      process.stderr.write(`${e.code ?? e.name}: ${e.message}\n`);
      process.exit(1);
    }
    break;
  }
  default:
    process.stderr.write('usage: node interop.mjs sign|verify < input.json\n');
    process.exit(2);
}
