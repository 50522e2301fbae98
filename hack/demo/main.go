// Command demo is what `make demo` runs. It starts a throwaway local control
// plane, turns testdata/config-repo into a real Git repository, and drives
// kubectl-gitops through kubectl's plugin discovery, narrating each step:
// sync the production overlays, ship a new image tag, prune a resource that
// left Git, revert a change made by hand. Then it removes everything.
package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

var services = []string{"order-service", "payment-service", "frontend"}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type demo struct {
	ctx     context.Context
	kubectl string
	env     []string
	repo    *git.Repository
	repoDir string
}

func run() error {
	flags := flag.NewFlagSet("demo", flag.ExitOnError) // not the default set: controller-runtime adds to it
	bin := flags.String("bin", "bin", "directory holding the kubectl-gitops binary to demonstrate")
	fixtures := flags.String("fixtures", filepath.Join("testdata", "config-repo"), "the config repository to start from")
	_ = flags.Parse(os.Args[1:])
	binDir, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(binDir, "kubectl-gitops")); err != nil {
		return fmt.Errorf("no kubectl-gitops in %s; run 'make build' first", binDir)
	}
	start := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	toolsDir, err := tools.Ensure(ctx, tools.Options{Log: os.Stderr})
	if err != nil {
		return err
	}

	say("Starting a local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, and kwok with a fake node")
	c, err := localcluster.Start(ctx, localcluster.Options{ToolsDir: toolsDir})
	if err != nil {
		return err
	}
	defer func() {
		say("Stopping the control plane; nothing is left running")
		_ = c.Stop()
	}()

	work, err := os.MkdirTemp("", "kubectl-gitops-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	d := &demo{
		ctx:     ctx,
		kubectl: filepath.Join(toolsDir, tools.Kubectl),
		env: append(os.Environ(), "KUBECONFIG="+c.Kubeconfig,
			// Only the plugin, the tools and the system: what kubectl
			// discovers is what this repository built.
			"PATH="+strings.Join([]string{binDir, toolsDir, "/usr/local/bin", "/usr/bin", "/bin"}, string(os.PathListSeparator))),
		repoDir: filepath.Join(work, "config"),
	}
	say("Making a Git config repository from %s: apps/<service>/{base,overlays/dev,staging,production} for %s", *fixtures, strings.Join(services, ", "))
	if err := d.initRepo(*fixtures); err != nil {
		return err
	}

	say("Syncing the production overlays into namespace shop: ConfigMaps in wave -1, Deployments and Services in wave 0, HPAs in wave 1, each wave gated on health")
	for _, svc := range services {
		if err := d.sync(svc); err != nil {
			return err
		}
	}
	if err := d.run(d.kubectl, "get", "deployments,services,hpa,configmaps", "-n", "shop"); err != nil {
		return err
	}

	say("order-service gets Argo CD hooks in Git: a schema migration Job (PreSync, generateName, deleted when it succeeds) and a smoke test Job (PostSync)")
	if err := d.hooks(); err != nil {
		return err
	}
	say("CI bumps the order-service image to 1.5.0 in Git; the sync runs the migration, rolls the Deployment out, then the smoke test")
	if err := d.edit("apps/order-service/overlays/production/kustomization.yaml", `newTag: "1.4.0"`, `newTag: "1.5.0"`, "order-service: release 1.5.0"); err != nil {
		return err
	}
	if err := d.sync("order-service"); err != nil {
		return err
	}
	if err := d.run(d.kubectl, "get", "jobs", "-n", "shop"); err != nil {
		return err
	}
	if err := d.run(d.kubectl, "get", "replicasets", "-n", "shop", "-l", "app=order-service", "-o", "custom-columns=REPLICASET:.metadata.name,IMAGE:.spec.template.spec.containers[0].image,REPLICAS:.status.replicas"); err != nil {
		return err
	}

	say("The payment-service HPA is removed from Git; the sync prunes it")
	if err := d.edit("apps/payment-service/base/kustomization.yaml", "- hpa.yaml\n", "", "payment-service: drop the HPA"); err != nil {
		return err
	}
	if err := d.sync("payment-service"); err != nil {
		return err
	}

	if err := d.secret(work); err != nil {
		return err
	}

	say("Someone scales frontend by hand: status names the drift, diff shows exactly the field, the next sync puts Git's replica count back")
	if err := d.run(d.kubectl, "scale", "deployment/frontend", "-n", "shop", "--replicas=5"); err != nil {
		return err
	}
	if err := d.run(d.kubectl, "gitops", "status", "frontend-production"); err != nil {
		return err
	}
	if err := d.run(d.kubectl, "gitops", "diff", "frontend-production"); err != nil {
		return err
	}
	if err := d.sync("frontend"); err != nil {
		return err
	}
	if err := d.run(d.kubectl, "get", "deployment/frontend", "-n", "shop"); err != nil {
		return err
	}
	say("Every app, from the cluster alone: synced, healthy, at which commit (the age key opens payment-service's Secret)")
	if err := d.run(d.kubectl, "gitops", "status", "--age-key-file", filepath.Join(work, "age", "keys.txt")); err != nil {
		return err
	}

	say("order-service 1.5.0 is rolled back: a sync of the commit before, recorded in the history")
	if err := d.run(d.kubectl, "gitops", "rollback", "order-service-production", "--timeout", "2m"); err != nil {
		return err
	}
	if err := d.run(d.kubectl, "gitops", "history", "order-service-production"); err != nil {
		return err
	}
	say("Done in %s", time.Since(start).Round(time.Second))
	return nil
}

func say(format string, args ...any) {
	fmt.Printf("\n==> "+format+"\n", args...)
}

func (d *demo) sync(svc string, extra ...string) error {
	return d.run(d.kubectl, append([]string{"gitops", "sync", "--repo", d.repoDir, "--path", "apps/" + svc + "/overlays/production",
		"--dest-namespace", "shop", "--sync-option", "CreateNamespace=true", "--timeout", "2m"}, extra...)...)
}

// demoPassword is the demo's secret value; the demo never prints it.
const demoPassword = "demo-only-correct-horse-battery"

// secret adds a SOPS/age-encrypted Secret to the payment-service overlay
// and syncs it: only ciphertext goes to Git, the sync decrypts.
func (d *demo) secret(work string) error {
	say("payment-service gets a database password: encrypted for an age key in Git, decrypted by the sync")
	keys := filepath.Join(work, "age", "keys.txt")
	recipient, err := d.output(d.kubectl, "gitops", "secret", "keygen", "-o", keys)
	if err != nil {
		return err
	}
	fmt.Println(recipient)                          // the public half: safe to show
	plain := filepath.Join(work, "payment-db.yaml") // outside the repository
	secret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: payment-db\ntype: Opaque\nstringData:\n  password: " + demoPassword + "\n"
	if err := os.WriteFile(plain, []byte(secret), 0o600); err != nil {
		return err
	}
	enc, err := d.output(d.kubectl, "gitops", "secret", "encrypt", plain, "--age-recipient", recipient)
	if err != nil {
		return err
	}
	encFile := filepath.Join(d.repoDir, "apps/payment-service/overlays/production/db.enc.yaml")
	if err := os.WriteFile(encFile, []byte(enc+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Printf("  (written to apps/payment-service/overlays/production/db.enc.yaml; its stringData:)\n")
	if err := d.run("grep", "-A1", "^stringData:", encFile); err != nil {
		return err
	}
	if err := d.edit("apps/payment-service/overlays/production/kustomization.yaml", "- ../../base\n", "- ../../base\n- db.enc.yaml\n", "payment-service: database password (encrypted)"); err != nil {
		return err
	}
	if err := d.sync("payment-service", "--age-key-file", keys); err != nil {
		return err
	}
	if err := d.run(d.kubectl, "get", "secret/payment-db", "-n", "shop"); err != nil {
		return err
	}
	live, err := d.output(d.kubectl, "get", "secret/payment-db", "-n", "shop", "-o", "jsonpath={.data.password}")
	if err != nil {
		return err
	}
	if live != base64.StdEncoding.EncodeToString([]byte(demoPassword)) {
		return fmt.Errorf("the live Secret payment-db does not hold the password from Git")
	}
	fmt.Printf("  (%d bytes of base64, not shown here: compared with the password written before encryption, and equal)\n", len(live))
	say("The live Secret holds the decrypted password; nothing above printed it")
	return nil
}

// output runs a command, shows it, and returns its stdout (not printed).
func (d *demo) output(name string, args ...string) (string, error) {
	shown := append([]string{filepath.Base(name)}, args...)
	fmt.Printf("$ %s\n", strings.Join(shown, " "))
	cmd := exec.CommandContext(d.ctx, name, args...)
	cmd.Env, cmd.Stderr = d.env, os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", strings.Join(shown, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

func (d *demo) run(name string, args ...string) error {
	shown := append([]string{filepath.Base(name)}, args...)
	fmt.Printf("$ %s\n", strings.Join(shown, " "))
	cmd := exec.CommandContext(d.ctx, name, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = d.env, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(shown, " "), err)
	}
	return nil
}

// initRepo copies the fixtures into a new repository and commits them.
func (d *demo) initRepo(fixtures string) error {
	repo, err := git.PlainInitWithOptions(d.repoDir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")}})
	if err != nil {
		return err
	}
	d.repo = repo
	err = filepath.WalkDir(fixtures, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(fixtures, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		target := filepath.Join(d.repoDir, rel)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		return err
	}
	return d.commit("initial config")
}

// hooks adds a PreSync and a PostSync Job to the order-service production
// overlay and commits.
func (d *demo) hooks() error {
	dir := filepath.Join(d.repoDir, "apps/order-service/overlays/production")
	job := func(meta, hook, policy, command string) string {
		return "apiVersion: batch/v1\nkind: Job\nmetadata:\n  " + meta + "\n  annotations:\n    argocd.argoproj.io/hook: " + hook + "\n" +
			"    argocd.argoproj.io/hook-delete-policy: " + policy + "\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n" +
			"      containers:\n      - name: main\n        image: registry.example/shop/order-service:1.5.0\n        command: [" + command + "]\n"
	}
	for _, f := range []struct{ name, text string }{
		{"migrate.yaml", job("generateName: order-service-migrate-", "PreSync", "HookSucceeded", "order-service, migrate")},
		{"smoke.yaml", job("name: order-service-smoke", "PostSync", "BeforeHookCreation", "order-service, smoke-test")},
	} {
		name, text := f.name, f.text
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return err
		}
		fmt.Printf("$ cat apps/order-service/overlays/production/%s\n%s", name, text)
	}
	return d.edit("apps/order-service/overlays/production/kustomization.yaml", "- ../../base\n", "- ../../base\n- migrate.yaml\n- smoke.yaml\n", "order-service: migration and smoke test hooks")
}

// edit replaces old with new in one file and commits.
func (d *demo) edit(file, old, new, message string) error {
	p := filepath.Join(d.repoDir, file)
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if !strings.Contains(string(data), old) {
		return fmt.Errorf("%s does not contain %q", file, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		return err
	}
	fmt.Printf("$ git commit -am %q\n", message)
	return d.commit(message)
}

func (d *demo) commit(message string) error {
	wt, err := d.repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return err
	}
	_, err = wt.Commit(message, &git.CommitOptions{Author: &object.Signature{Name: "CI", Email: "ci@example.com", When: time.Now()}})
	return err
}
