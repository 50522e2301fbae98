// Command ensuretools builds the third-party binaries pinned in hack/tools
// into the user's cache, unless they are there already, and prints the
// directory that holds them. `make tools` runs it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := tools.Ensure(ctx, tools.Options{Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ensuretools:", err)
		os.Exit(1)
	}
	fmt.Println(dir)
}
