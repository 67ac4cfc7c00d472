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
	body, form, err := readBody(r, allowForm)
	if err != nil {
		return nil, err
	}
	if body == nil {
		return map[string]string{}, nil
	}
	if form {
		return decodeForm(body, names)
	}
	raw, fields, err := rawObject(body, names)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(raw))
	for name, v := range raw {
		var s string
		if fields[name] != "" {
			continue
		}
		if v[0] != '"' || json.Unmarshal(v, &s) != nil {
			fields[name] = "must be a string"
			continue
		}
		out[name] = s
	}
	if len(fields) > 0 {
		return nil, badRequest("The request body has invalid fields.", fields)
	}
	return out, nil
}

// decodeObject reads a JSON object whose members are the named ones only,
// with values of any JSON type, kept raw. It refuses what decode refuses
// (ASVS 15.3.3, 15.3.5, 15.3.7): a body over 64 KiB, another media type or
// charset, invalid UTF-8, a \u escape of a lone surrogate, unknown or
// case-variant names, anything after the object; and a name given twice at
// ANY depth, so that the credential inside is read one way only (whatever
// parser reads it later: RFC 8259 §4 leaves duplicate names' meaning open).
func decodeObject(r *http.Request, names ...string) (map[string]json.RawMessage, error) {
	body, _, err := readBody(r, false)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	raw, fields, err := rawObject(body, names)
	if err != nil {
		return nil, err
	}
	if len(fields) > 0 {
		return nil, badRequest("The request body has invalid fields.", fields)
	}
	return raw, nil
}

// rawObject reads body, checked by readBody, as exactly one JSON object and
// returns the members named in names, raw, with what is wrong with the
// others: an unknown name (names match exactly, so a case variant is
// unknown), a name given twice, or a value in which some object has a
// member name twice, at any depth. An error is a body that is not one
// JSON object.
func rawObject(body []byte, names []string) (map[string]json.RawMessage, map[string]string, error) {
	if !json.Valid(body) {
		return nil, nil, badRequest("The request body is not valid JSON.", nil)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, badRequest("The request body must be a JSON object.", nil)
	}
	out := make(map[string]json.RawMessage, len(names))
	fields := map[string]string{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, badRequest("The request body is not valid JSON.", nil)
		}
		name, _ := t.(string)
		start := dec.InputOffset()
		dup, err := skipChecked(dec)
		if err != nil {
			return nil, nil, badRequest("The request body is not valid JSON.", nil)
		}
		switch {
		case !contains(names, name):
			fields[fieldName(name)] = "unknown field"
		case out[name] != nil:
			fields[name] = "given more than once"
		case dup != "":
			fields[name] = "has the member " + fieldName(dup) + " more than once"
		default:
			out[name] = json.RawMessage(bytes.TrimLeft(body[start:dec.InputOffset()], " \t\r\n:"))
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, badRequest("The request body is not valid JSON.", nil)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, badRequest("The request body must hold exactly one JSON value.", nil)
	}
	return out, fields, nil
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

// skipChecked consumes one JSON value and returns the first member name
// that occurs twice in one of its objects ("" if none).
func skipChecked(dec *json.Decoder) (string, error) {
	t, err := dec.Token()
	if err != nil {
		return "", err
	}
	d, ok := t.(json.Delim)
	if !ok {
		return "", nil
	}
	dup := ""
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return "", err
			}
			name, _ := k.(string)
			if seen[name] && dup == "" {
				dup = name
			}
			seen[name] = true
			inner, err := skipChecked(dec)
			if err != nil {
				return "", err
			}
			if dup == "" {
				dup = inner
			}
		}
	case '[':
		for dec.More() {
			inner, err := skipChecked(dec)
			if err != nil {
				return "", err
			}
			if dup == "" {
				dup = inner
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return dup, err
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
