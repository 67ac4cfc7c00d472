// Package password hashes, verifies and vets passwords. It implements
// auth.PasswordHasher (Hasher) and auth.PasswordPolicy (Policy).
//
// # Input
//
// Every function takes a password that the caller has already passed through
// Normalize: valid UTF-8, NFKC-normalised (NIST SP 800-63B §5.1.1.2;
// ASVS 6.2.10). Passwords are never trimmed and never truncated.
//
// # Encodings
//
// Hash produces, and Verify accepts, exactly these encodings:
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>
//	    PHC string format. salt and key are standard base64 without padding
//	    (RFC 4648 §4, canonical: trailing bits must be zero). Hash writes a
//	    16-byte salt from crypto/rand and a 32-byte key. Only version 19
//	    (0x13) exists. No optional fields (keyid, data) are accepted.
//
//	$bcrypt-sha384$2a$<cost>$<22-char salt><31-char hash>
//	    Bulwark's own bcrypt: the prefix "$bcrypt-sha384$" followed by a
//	    standard bcrypt modular-crypt string without its leading "$". The
//	    bcrypt input is not the password but base64(SHA-384(password)),
//	    standard alphabet, padded: always 64 ASCII bytes. bcrypt reads at most
//	    72 bytes of its input and golang.org/x/crypto/bcrypt's
//	    CompareHashAndPassword silently ignores the rest, so hashing the
//	    password directly would accept any string sharing its first 72 bytes
//	    (ASVS 6.2.8 and NIST SP 800-63B forbid truncation; OWASP Password
//	    Storage Cheat Sheet, "Pre-Hashing Passwords with bcrypt"). base64
//	    also keeps NUL bytes out of bcrypt's input. The version letters are
//	    whatever x/crypto writes ("2a"); "2a", "2b" and "2y" compute the same
//	    function for inputs shorter than 255 bytes.
//
//	$2a$<cost>$…, $2b$<cost>$…, $2y$<cost>$…
//	    Plain bcrypt, as imported from other systems. Verified against the
//	    password itself. A password longer than 72 bytes never matches a
//	    plain bcrypt hash (no error): accepting it would mean accepting a
//	    truncation. Such hashes verify but are always flagged for rehash.
//	    "$2x$" (the crypt_blowfish sign-extension bug) and "$2$" are refused.
//
// Any other prefix is ErrUnknownAlgorithm. A string that has a known prefix
// but is not exactly of its form, or whose parameters are outside the bounds
// below, is ErrMalformedHash. Neither is ever a match.
//
// # Parsing bounds
//
// Stored hashes are parsed as untrusted input: a hostile or corrupt row must
// not make one verification exhaust memory or CPU (CWE-400).
// argon2id: 8·p ≤ m ≤ 1 GiB (1048576 KiB), 1 ≤ t ≤ 10, 1 ≤ p ≤ 16,
// salt 8 to 64 bytes, key 16 to 64 bytes. bcrypt: cost 4 to 15.
//
// # Rehash
//
// Verify reports rehash=true, on a match only, when the stored hash is not
// exactly what Hash would write now: another algorithm, other argon2id
// m, t, p or key length, a salt shorter than 16 bytes, another bcrypt cost,
// or a plain imported bcrypt hash. The caller then stores a fresh Hash of the
// password it just verified (OWASP Password Storage Cheat Sheet, "Upgrading
// the work factor"; ASVS 11.4.2).
//
// # Capacity
//
// Every Hash, Verify and VerifyDummy runs holding one of Config.Slots slots
// (default: GOMAXPROCS, one per core). A caller that finds every slot taken
// waits for at most Config.MaxWait, and only if fewer than Config.MaxQueue
// callers are already waiting; otherwise it gets auth.ErrBusy at once, to be
// answered with 503 and Retry-After: RetryAfter. So no more than Slots
// argon2id computations hold memory at any time (m·Slots in all) and no
// request waits long (ASVS 15.1.3, 15.2.2).
//
// # Uniform cost
//
// A verification's time must not tell whether the account exists nor what
// its stored hash is (ASVS 6.3.8). Verify pays the stored hash's parameters
// and VerifyDummy the configured ones, so after a change of algorithm or
// with imported bcrypt hashes the two differ tenfold. Running every
// verification at the configured parameters is impossible (a hash is
// checked with its own), and re-hashing the dummy with every class would
// multiply the CPU cost of an unknown email. Instead every Verify and
// VerifyDummy is padded up to a floor: the highest of the classes' own
// costs (algorithm and parameters) seen in the last one to two minutes,
// and never below the configured class's cost. A class's own cost is its
// cheapest recent verification: what a busy CPU adds slows every
// verification alike and tells nothing, while a maximum let one contended
// hash pad every login for two minutes (300 to 560 ms a login measured
// where the hash costs 40 ms). The padding is a timer after the slot is
// given back, so it costs no CPU and the pool's admission control still
// sees only real hashing time; an attacker who sends unknown emails makes
// no one's login dearer than the dearest class of hash the server really
// holds. The cost is latency: with imported bcrypt-12 hashes in use, every
// login takes as long
// as one of them until they are upgraded at their next login or expire
// from the floor. The clock is a Meter (WithMeter), so tests check cost
// without measuring wall time.
//
// # Policy
//
// Policy.Check applies the rules of docs/api.md, in this order, and returns the first
// reason that applies, or "" for an acceptable password:
//
//   - "too_long": more than 1024 bytes or more than 128 code points.
//   - "too_short": fewer than the minimum number of code points (8 to 64,
//     default 15). Each code point counts as one character (NIST SP 800-63B
//     §5.1.1.2; ASVS 6.2.1).
//   - "common": the lower-cased password is on the bundled list of common
//     passwords (common-passwords.txt, see common-passwords.SOURCE.md), is
//     one short unit repeated ("aaaaaaaaaaaaaaa", "abcabcabc…"), is a run of
//     consecutive characters ("abcdefghijklmnop", "987654321098765"), or
//     contains "password". NIST SP 800-63B §5.1.1.2 names exactly these:
//     breached and dictionary values, repetitive or sequential characters,
//     and derivatives of context words (ASVS 6.2.4, 6.2.11).
//   - "contains_email": the password contains, ignoring case, the whole
//     email, its local part, or a piece of the local part between ".", "_",
//     "-" and "+" (each only if at least 3 code points long), or the service
//     name "bulwark" (ASVS 6.2.11).
//
// There are no composition rules (ASVS 6.2.5; NIST SP 800-63B).
package password
