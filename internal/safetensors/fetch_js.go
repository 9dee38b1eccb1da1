//go:build js

package safetensors

import (
	"fmt"
	"syscall/js"
)

// Fetch downloads a safetensors file with the browser's fetch and parses
// it; the bytes are copied once, from the response's ArrayBuffer into Go
// memory, and tensors are views of them. It blocks the calling goroutine
// on the fetch's promises, so it must not run inside a js.FuncOf
// callback. A response over maxBytes (0: no bound) is refused.
func Fetch(url string, maxBytes int64) (*File, error) {
	resp, err := await(js.Global().Call("fetch", url))
	if err != nil {
		return nil, &Error{Rule: fmt.Sprintf("fetch %s: %v", url, err), Err: err}
	}
	if !resp.Get("ok").Bool() {
		err := fmt.Errorf("HTTP %d", resp.Get("status").Int())
		return nil, &Error{Rule: fmt.Sprintf("fetch %s: %v", url, err), Err: err}
	}
	if maxBytes > 0 {
		if n := resp.Get("headers").Call("get", "content-length"); n.Type() == js.TypeString {
			var size int64
			if _, err := fmt.Sscan(n.String(), &size); err == nil && size > maxBytes {
				return nil, formatErr("", "%s is %d bytes, over the %d-byte bound", url, size, maxBytes)
			}
		}
	}
	buf, err := await(resp.Call("arrayBuffer"))
	if err != nil {
		return nil, &Error{Rule: fmt.Sprintf("fetch %s: body: %v", url, err), Err: err}
	}
	n := buf.Get("byteLength").Int()
	if maxBytes > 0 && int64(n) > maxBytes {
		return nil, formatErr("", "%s is %d bytes, over the %d-byte bound", url, n, maxBytes)
	}
	b := make([]byte, n)
	js.CopyBytesToGo(b, js.Global().Get("Uint8Array").New(buf))
	return Parse(b)
}

// await blocks until a promise settles and returns its value or its
// rejection as an error.
func await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	ok := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{v: args[0]}
		return nil
	})
	fail := js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "rejected"
		if len(args) > 0 {
			msg = args[0].Call("toString").String()
		}
		ch <- result{err: fmt.Errorf("%s", msg)}
		return nil
	})
	defer ok.Release()
	defer fail.Release()
	p.Call("then", ok, fail)
	r := <-ch
	return r.v, r.err
}
