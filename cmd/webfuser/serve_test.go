//go:build !js && !wasip1

package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webfuser/webfuser/web"
)

// TestServeClosesSlowConnections holds 50 connections that send half a
// request header and then nothing, and 50 idle keep-alive connections:
// the server must close every one of them (without timeouts, 50
// half-open connections were still held after 40 s).
func TestServeClosesSlowConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(web.Handler(), timeouts{readHeader: 300 * time.Millisecond, read: time.Second, write: time.Second, idle: 300 * time.Millisecond})
	var out bytes.Buffer
	go serveOn(ln, srv, &out)
	defer srv.Close()
	addr := ln.Addr().String()

	const n = 50
	var wg sync.WaitGroup
	closed := make(chan time.Duration, 2*n)
	start := time.Now()
	for i := 0; i < 2*n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if i < n {
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n") // never finished
		} else {
			io.WriteString(c, "GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n") // answered, then idle
		}
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, c) // returns when the server closes
			closed <- time.Since(start)
		}(c)
	}
	wg.Wait()
	close(closed)
	var last time.Duration
	for d := range closed {
		last = max(last, d)
	}
	if last > 5*time.Second {
		t.Fatalf("the last of %d slow connections was closed after %v", 2*n, last)
	}
	t.Logf("all %d slow and idle connections closed within %v", 2*n, last.Round(time.Millisecond))
	if !strings.Contains(out.String(), "serving the WebFuser demo on http://"+addr) {
		t.Errorf("printed %q", out.String())
	}
	// The server still answers.
	res, err := http.Get("http://" + addr + "/")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("after the slow connections: %v %v", res, err)
	}
	res.Body.Close()
}

// TestServeSaysServingOnlyOnceListening: a busy address is an error,
// and nothing claims to be serving.
func TestServeSaysServingOnlyOnceListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = serve([]string{"--addr", ln.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "serve:") {
		t.Fatalf("serving on a busy address: %v", err)
	}
	if serveTimeouts.readHeader <= 0 || serveTimeouts.read <= 0 || serveTimeouts.write <= 0 || serveTimeouts.idle <= 0 {
		t.Fatalf("a timeout is unset: %+v", serveTimeouts)
	}
}
