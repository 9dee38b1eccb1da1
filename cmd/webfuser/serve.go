package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"

	"github.com/webfuser/webfuser/web"
)

// serve serves the browser demo (the page and its embedded wasm build).
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	fs.Parse(args)
	if !web.Built(web.Assets()) {
		fmt.Fprintln(os.Stderr, "webfuser: built without the wasm module; run `make wasm` and rebuild to serve the demo")
	}
	fmt.Printf("serving the WebFuser demo on http://%s/\n", *addr)
	return http.ListenAndServe(*addr, web.Handler())
}
