package main

import "fmt"

// serve is wired to the web demo handler once it exists.
func serve(args []string) error {
	return fmt.Errorf("serve: the web demo is not built into this binary")
}
