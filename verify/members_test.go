package verify

import (
	"bytes"
	"encoding/json"
	"testing"
)

var memberSeeds = []string{
	`{}`,
	` { "a" : 1 , "b":"x" } `,
	`{"a":{"b":[1,"}",{"c":"\""}]},"b\u0061":"x","c" : true , "d":null, "e":-1.5e3}`,
	`{"a":"\\","b":"\\\"}"}`,
	`{"alg":"EdDSA","kid":"ed-1","typ":"at+jwt"}`,
	`{"a":1,"a":2}`,
	`{"a":1,"\u0061":2}`,
	`{"a":[]}{}`,
	`[1]`,
	`"x"`,
	`{"a":1,}`,
	"{\"a\":\"\xff\"}",
	``,
}

func TestMembers(t *testing.T) {
	m, err := members([]byte(memberSeeds[2]))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": `{"b":[1,"}",{"c":"\""}]}`, "ba": `"x"`, "c": `true`, "d": `null`, "e": `-1.5e3`}
	if len(m) != len(want) {
		t.Fatalf("members = %q", m)
	}
	for k, v := range want {
		if string(m[k]) != v {
			t.Errorf("%s = %s, want %s", k, m[k], v)
		}
	}
	m, err = members([]byte(memberSeeds[3]))
	if err != nil || string(m["a"]) != `"\\"` || string(m["b"]) != `"\\\"}"` {
		t.Fatalf("members = %q, %v", m, err)
	}
	if s, ok := stringValue(m["b"]); !ok || s != `\"}` {
		t.Fatalf("stringValue = %q, %v", s, ok)
	}
	for _, bad := range memberSeeds[5:] {
		if m, err := members([]byte(bad)); err == nil {
			t.Errorf("members(%q) = %q, want an error", bad, m)
		}
	}
}

// FuzzMembers checks members against encoding/json: whatever members
// accepts, json.Unmarshal reads as the same members and values.
func FuzzMembers(f *testing.F) {
	for _, s := range memberSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := members(data)
		if err != nil {
			return
		}
		var ref map[string]json.RawMessage
		if err := json.Unmarshal(data, &ref); err != nil {
			t.Fatalf("members accepted %q, json refuses it: %v", data, err)
		}
		if len(ref) != len(m) {
			t.Fatalf("members %q, json %q", m, ref)
		}
		for k, v := range ref {
			if !bytes.Equal(bytes.TrimSpace(v), m[k]) {
				t.Fatalf("%q: members %s, json %s", k, m[k], v)
			}
			if s, ok := stringValue(m[k]); ok {
				var want string
				if json.Unmarshal(v, &want) != nil || s != want {
					t.Fatalf("stringValue(%s) = %q, json %q", v, s, want)
				}
			}
		}
	})
}
