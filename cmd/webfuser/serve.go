package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/webfuser/webfuser/web"
)

// Timeouts of the demo server: a client gets 10 s to send its request
// headers and 30 s for the whole request, a response has 2 min to be
// written (the wasm module is several MB), and an idle keep-alive
// connection is closed after a minute, so that slow or half-open
// connections cannot pile up.
var serveTimeouts = timeouts{readHeader: 10 * time.Second, read: 30 * time.Second, write: 2 * time.Minute, idle: time.Minute}

type timeouts struct{ readHeader, read, write, idle time.Duration }

// serve serves the browser demo (the page and its embedded wasm build)
// and the video DiT weights its generator fetches.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	weights := fs.String("weights", defaultWeights, "the video DiT state dict the page's generator fetches")
	fs.Parse(args)
	if fs.NArg() != 0 {
		return fmt.Errorf("serve: unexpected arguments %v", fs.Args())
	}
	if _, err := os.Stat(*weights); err != nil {
		fmt.Fprintf(os.Stderr, "webfuser: %v: the page's generator will have no weights (run from the repository root or pass --weights)\n", err)
	}
	if !web.Built(web.Assets()) {
		fmt.Fprintln(os.Stderr, "webfuser: built without the wasm module; run `make wasm` and rebuild to serve the demo")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("serve: %v", err)
	}
	return serveOn(ln, newServer(web.WithWeights(web.Handler(), *weights), serveTimeouts), os.Stdout)
}

// newServer is the demo's http.Server with every timeout set.
func newServer(h http.Handler, t timeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.readHeader,
		ReadTimeout:       t.read,
		WriteTimeout:      t.write,
		IdleTimeout:       t.idle,
		MaxHeaderBytes:    64 << 10,
	}
}

// serveOn says where it serves, once the listener is open, and serves.
func serveOn(ln net.Listener, srv *http.Server, out io.Writer) error {
	fmt.Fprintf(out, "serving the WebFuser demo on http://%s/\n", ln.Addr())
	return srv.Serve(ln)
}
