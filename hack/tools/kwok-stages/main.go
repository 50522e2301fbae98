// Command kwok-stages prints the kwok stage configuration used by the local
// control plane: node initialisation plus the pod ready, complete and delete
// stages, joined as one multi-document YAML stream. The stage texts come from
// the kwok module pinned in this go.mod, so they always match the kwok binary
// built beside them.
package main

import (
	"fmt"
	"os"
	"strings"

	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
)

func main() {
	docs := []string{
		nodefast.DefaultNodeInit,
		podfast.DefaultPodReady,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
	}
	for i, d := range docs {
		docs[i] = strings.TrimSpace(d)
	}
	if _, err := fmt.Fprintln(os.Stdout, strings.Join(docs, "\n---\n")); err != nil {
		fmt.Fprintln(os.Stderr, "kwok-stages:", err)
		os.Exit(1)
	}
}
