package main

// A small port of golang.org/x/mod/semver's Compare, kept here so this tool
// needs only the standard library. The vulnerability database stores versions
// without the leading "v" ("1.2.3", "0.0.0-2024..."); callers add it.

// semverCompare returns -1, 0 or +1 as v is less than, equal to or greater
// than w. An invalid version is less than every valid one and equal to every
// other invalid one, exactly as x/mod/semver.Compare does.
func semverCompare(v, w string) int {
	pv, okv := semverParse(v)
	pw, okw := semverParse(w)
	switch {
	case !okv && !okw:
		return 0
	case !okv:
		return -1
	case !okw:
		return 1
	}
	if c := compareInt(pv.major, pw.major); c != 0 {
		return c
	}
	if c := compareInt(pv.minor, pw.minor); c != 0 {
		return c
	}
	if c := compareInt(pv.patch, pw.patch); c != 0 {
		return c
	}
	return comparePrerelease(pv.prerelease, pw.prerelease)
}

// versionBefore reports whether v < w for unprefixed versions, the way the
// vulndb tooling (internal/version.Before) does.
func versionBefore(v, w string) bool {
	return semverCompare("v"+v, "v"+w) < 0
}

type semver struct {
	major, minor, patch string
	prerelease          string
}

func semverParse(v string) (p semver, ok bool) {
	if v == "" || v[0] != 'v' {
		return p, false
	}
	if p.major, v, ok = parseInt(v[1:]); !ok {
		return p, false
	}
	if v == "" {
		p.minor, p.patch = "0", "0"
		return p, true
	}
	if v[0] != '.' {
		return p, false
	}
	if p.minor, v, ok = parseInt(v[1:]); !ok {
		return p, false
	}
	if v == "" {
		p.patch = "0"
		return p, true
	}
	if v[0] != '.' {
		return p, false
	}
	if p.patch, v, ok = parseInt(v[1:]); !ok {
		return p, false
	}
	if v != "" && v[0] == '-' {
		if p.prerelease, v, ok = parseIdents(v, true); !ok {
			return p, false
		}
	}
	if v != "" && v[0] == '+' {
		if _, v, ok = parseIdents(v, false); !ok {
			return p, false
		}
	}
	return p, v == ""
}

func parseInt(v string) (t, rest string, ok bool) {
	if v == "" || v[0] < '0' || v[0] > '9' {
		return "", v, false
	}
	i := 1
	for i < len(v) && '0' <= v[i] && v[i] <= '9' {
		i++
	}
	if v[0] == '0' && i != 1 {
		return "", v, false
	}
	return v[:i], v[i:], true
}

// parseIdents parses a "-pre.release" or "+build.meta" suffix: dot-separated,
// non-empty identifiers of [0-9A-Za-z-]; numeric prerelease identifiers have
// no leading zero. A prerelease stops at '+', build metadata at the end.
func parseIdents(v string, prerelease bool) (t, rest string, ok bool) {
	i, start := 1, 1
	for i < len(v) && (!prerelease || v[i] != '+') {
		c := v[i]
		if c == '.' {
			if start == i || (prerelease && isBadNum(v[start:i])) {
				return "", v, false
			}
			start = i + 1
		} else if !isIdentChar(c) {
			return "", v, false
		}
		i++
	}
	if start == i || (prerelease && isBadNum(v[start:i])) {
		return "", v, false
	}
	return v[:i], v[i:], true
}

func isIdentChar(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-'
}

func isNum(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return v != ""
}

func isBadNum(v string) bool {
	return isNum(v) && v[0] == '0' && v != "0"
}

func compareInt(x, y string) int {
	switch {
	case x == y:
		return 0
	case len(x) < len(y):
		return -1
	case len(x) > len(y):
		return 1
	case x < y:
		return -1
	default:
		return 1
	}
}

func comparePrerelease(x, y string) int {
	// "" (a release) sorts after any prerelease of the same version.
	switch {
	case x == y:
		return 0
	case x == "":
		return 1
	case y == "":
		return -1
	}
	for x != "" && y != "" {
		x, y = x[1:], y[1:] // drop the leading '-' or '.'
		var dx, dy string
		dx, x = nextIdent(x)
		dy, y = nextIdent(y)
		if dx == dy {
			continue
		}
		ix, iy := isNum(dx), isNum(dy)
		if ix != iy {
			if ix {
				return -1
			}
			return 1
		}
		if ix {
			if len(dx) < len(dy) {
				return -1
			}
			if len(dx) > len(dy) {
				return 1
			}
		}
		if dx < dy {
			return -1
		}
		return 1
	}
	if x == "" {
		return -1
	}
	return 1
}

func nextIdent(x string) (dx, rest string) {
	i := 0
	for i < len(x) && x[i] != '.' {
		i++
	}
	return x[:i], x[i:]
}
