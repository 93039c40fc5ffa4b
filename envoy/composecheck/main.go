// composecheck loads a compose file with compose-go, the loader Docker Compose itself uses: it
// checks the file against the Compose Specification schema, interpolates variables and checks
// the project is consistent (services, volumes, depends_on). It also checks that every image
// build's context and Dockerfile exist, so run it after the Maven build. It prints the services.
//
//	go run . ../docker-compose.yml
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck <compose file>")
		os.Exit(2)
	}
	file, err := filepath.Abs(os.Args[1])
	if err != nil {
		fail(err)
	}
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithOsEnv, cli.WithWorkingDirectory(filepath.Dir(file)))
	if err != nil {
		fail(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	names := project.ServiceNames()
	sort.Strings(names)
	for _, name := range names {
		build := project.Services[name].Build
		if build == nil {
			continue
		}
		dockerfile := build.Dockerfile
		if !filepath.IsAbs(dockerfile) {
			dockerfile = filepath.Join(build.Context, dockerfile)
		}
		for _, path := range []string{build.Context, dockerfile} {
			if _, err := os.Stat(path); err != nil {
				fail(fmt.Errorf("service %s builds from %s: %w", name, path, err))
			}
		}
	}
	fmt.Printf("project %s: %d services %v\n", project.Name, len(names), names)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "compose file rejected:", err)
	os.Exit(1)
}
