package verify

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// maxEventSize bounds one server-sent event (a line, and the data of one
// event): a snapshot of many thousand revocations fits, an endless line
// does not.
const maxEventSize = 32 << 20

// sseEvent is one dispatched server-sent event.
type sseEvent struct {
	typ  string // "message" when the stream named none
	data string
	id   string // the last event ID at dispatch
}

// sseReader parses a text/event-stream (WHATWG HTML §9.2.6): lines end in
// CRLF, LF or CR; a line starting with ':' is a comment; "field: value"
// with one optional space after the colon; a blank line dispatches the
// event; an event without data is dropped; an id containing NUL is
// ignored; "retry" is ignored (the client has its own backoff); an event
// cut off by the end of the stream is discarded.
type sseReader struct {
	sc     *bufio.Scanner
	limit  int
	lastID string
	first  bool
	onLine func() // called for every line read, comments included
}

// newSSEReader reads events from r, with lastID as the last event ID so
// far and limit (normally maxEventSize) as the bound on a line and on the
// data of one event.
func newSSEReader(r io.Reader, lastID string, limit int, onLine func()) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, min(64<<10, limit)), limit)
	sc.Split(lineSplitter())
	return &sseReader{sc: sc, limit: limit, lastID: lastID, first: true, onLine: onLine}
}

// lineSplitter returns a bufio.SplitFunc for CRLF, LF and lone CR line
// ends. It remembers how far it has looked, so a long line arriving in many
// reads is scanned once, not once per read.
func lineSplitter() bufio.SplitFunc {
	scanned := 0
	return func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexAny(data[scanned:], "\r\n"); i >= 0 {
			i += scanned
			if data[i] == '\n' {
				scanned = 0
				return i + 1, data[:i], nil
			}
			if i+1 < len(data) || atEOF {
				scanned = 0
				if i+1 < len(data) && data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			// A CR at the end of what has arrived: wait to see if LF follows.
			scanned = i
			return 0, nil, nil
		}
		if atEOF && len(data) > 0 {
			// The final line has no end: it can only be part of an event cut
			// off by the end of the stream, which is discarded anyway.
			scanned = 0
			return len(data), nil, nil
		}
		scanned = len(data)
		return 0, nil, nil
	}
}

// next returns the next event; io.EOF at the clean end of the stream.
func (r *sseReader) next() (sseEvent, error) {
	var typ string
	var data strings.Builder
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if r.onLine != nil {
			r.onLine()
		}
		if r.first {
			line = bytes.TrimPrefix(line, []byte("\uFEFF"))
			r.first = false
		}
		if len(line) == 0 {
			if data.Len() == 0 {
				typ = ""
				continue
			}
			d := strings.TrimSuffix(data.String(), "\n")
			if typ == "" {
				typ = "message"
			}
			return sseEvent{typ: typ, data: d, id: r.lastID}, nil
		}
		if line[0] == ':' {
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(name) {
		case "event":
			typ = string(value)
		case "data":
			if data.Len()+len(value)+1 > r.limit {
				return sseEvent{}, bufio.ErrTooLong
			}
			data.Write(value)
			data.WriteByte('\n')
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.lastID = string(value)
			}
		}
	}
	if err := r.sc.Err(); err != nil {
		return sseEvent{}, err
	}
	return sseEvent{}, io.EOF
}
