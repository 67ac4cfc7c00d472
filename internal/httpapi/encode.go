package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// maxBody is the largest request body accepted (docs/api.md: 64 KiB, then 413).
const maxBody = 64 << 10

// encode writes v as JSON with status.
func encode(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = jsonEncode(w, v)
}

func jsonEncode(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// errBadBody is returned by decode for a body that is not what the route
// takes; the handler answers it through writeError.
func badRequest(msg string, fields map[string]string) *auth.Error {
	return &auth.Error{Code: auth.CodeInvalidRequest, Message: msg, Fields: fields}
}

// readBody reads a request body and checks what every body must be: at most
// 64 KiB (413), application/json (or, with allowForm, a form: form is then
// true) in UTF-8, whatever the charset parameter claims otherwise (415;
// RFC 8259 §8.1: JSON exchanged between systems is UTF-8), valid UTF-8
// without a \u escape of a lone UTF-16 surrogate (400). An empty body is
// nil, with no error.
func readBody(r *http.Request, allowForm bool) (body []byte, form bool, err error) {
	body, err = io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, false, &auth.Error{Code: codePayloadTooLarge, Message: "The request body is larger than 64 KiB."}
		}
		return nil, false, badRequest("The request body could not be read.", nil)
	}
	if len(body) == 0 {
		return nil, false, nil
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, false, &auth.Error{Code: codeUnsupportedMediaType, Message: "The request body must be application/json in UTF-8."}
	}
	switch {
	case mt == "application/json":
	case allowForm && mt == "application/x-www-form-urlencoded":
		return body, true, nil
	default:
		return nil, false, &auth.Error{Code: codeUnsupportedMediaType, Message: "The request body must be application/json."}
	}
	if !utf8.Valid(body) {
		return nil, false, badRequest("The request body is not valid UTF-8.", nil)
	}
	if loneSurrogate(body) {
		return nil, false, badRequest("The request body has a \\u escape of a lone UTF-16 surrogate.", nil)
	}
	return body, false, nil
}

// decode reads a flat JSON object whose members are all strings, and only the
// named ones, into a map (ASVS 15.3.3, 15.3.5, 15.3.7). It refuses what
// encoding/json would let through: invalid UTF-8 (which it would replace with
// U+FFFD), duplicate names (last would win), names that differ only in case
// (it matches case-insensitively), values of other types, and anything after
// the object. With allowForm, an application/x-www-form-urlencoded body with
// the same names is accepted as OAuth clients send it (RFC 6749 §3.2).
func decode(r *http.Request, allowForm bool, names ...string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	body, form, err := readBody(r, allowForm)
	if err != nil || body == nil {
		return out, err
	}
	if form {
		return decodeForm(body, names)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, badRequest("The request body must be a JSON object.", nil)
	}
	fields := map[string]string{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, badRequest("The request body is not valid JSON.", nil)
		}
		name, _ := t.(string)
		if !contains(names, name) {
			fields[fieldName(name)] = "unknown field"
			if err := skipValue(dec); err != nil {
				return nil, badRequest("The request body is not valid JSON.", nil)
			}
			continue
		}
		if _, dup := out[name]; dup {
			fields[name] = "given more than once"
		}
		t, err = dec.Token()
		if err != nil {
			return nil, badRequest("The request body is not valid JSON.", nil)
		}
		v, ok := t.(string)
		if !ok {
			fields[name] = "must be a string"
			if d, isDelim := t.(json.Delim); isDelim && (d == '{' || d == '[') {
				if err := skipRest(dec); err != nil {
					return nil, badRequest("The request body is not valid JSON.", nil)
				}
			}
			continue
		}
		out[name] = v
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, badRequest("The request body is not valid JSON.", nil)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("The request body must hold exactly one JSON value.", nil)
	}
	if len(fields) > 0 {
		return nil, badRequest("The request body has invalid fields.", fields)
	}
	return out, nil
}

func decodeForm(body []byte, names []string) (map[string]string, error) {
	if !utf8.Valid(body) {
		return nil, badRequest("The request body is not valid UTF-8.", nil)
	}
	if loneSurrogate(body) {
		return nil, badRequest("The request body has a \\u escape of a lone UTF-16 surrogate.", nil)
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badRequest("The form body is malformed.", nil)
	}
	out := make(map[string]string, len(vals))
	fields := map[string]string{}
	for k, v := range vals {
		switch {
		case !contains(names, k):
			fields[fieldName(k)] = "unknown field"
		case len(v) != 1:
			// RFC 6749 §3.2: parameters must not be included more than once.
			fields[k] = "given more than once"
		case !utf8.ValidString(v[0]):
			fields[k] = "must be valid UTF-8"
		default:
			out[k] = v[0]
		}
	}
	if len(fields) > 0 {
		return nil, badRequest("The request body has invalid fields.", fields)
	}
	return out, nil
}

// fieldName bounds an unknown, client-chosen name before it is echoed.
func fieldName(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.ToValidUTF8(s, "")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// skipValue consumes one JSON value.
func skipValue(dec *json.Decoder) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); ok && (d == '{' || d == '[') {
		return skipRest(dec)
	}
	return nil
}

// skipRest consumes the rest of an object or array whose opening delimiter
// was just read.
func skipRest(dec *json.Decoder) error {
	depth := 1
	for depth > 0 {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
		}
	}
	return nil
}

// require reports the named fields that are missing or empty.
func require(m map[string]string, names ...string) error {
	fields := map[string]string{}
	for _, n := range names {
		if m[n] == "" {
			fields[n] = "is required"
		}
	}
	if len(fields) > 0 {
		return badRequest("The request is missing required fields.", fields)
	}
	return nil
}

// loneSurrogate reports whether a JSON text has a \u escape of a UTF-16
// surrogate that is not part of a high+low pair. encoding/json turns one
// into U+FFFD, so a password sent as "\ud800" would silently become a
// different one (RFC 8259 §8.2 leaves such strings' behaviour
// unpredictable). A backslash occurs only inside strings in valid JSON;
// invalid JSON is refused by the decoder anyway.
func loneSurrogate(body []byte) bool {
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			continue
		}
		r, ok := hexEscape(body, i)
		if !ok {
			i++ // \", \\, \n ...: skip the escaped character
			continue
		}
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return true // a low surrogate with no high one before it
		case r >= 0xD800 && r <= 0xDBFF:
			lo, ok := hexEscape(body, i+6)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 11
		default:
			i += 5
		}
	}
	return false
}

// hexEscape decodes the \uXXXX escape at body[i:], if there is one.
func hexEscape(body []byte, i int) (rune, bool) {
	if i+6 > len(body) || body[i] != '\\' || body[i+1] != 'u' {
		return 0, false
	}
	v, err := strconv.ParseUint(string(body[i+2:i+6]), 16, 16)
	if err != nil {
		return 0, false
	}
	return rune(v), true
}
