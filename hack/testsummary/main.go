// Command testsummary reads `go test -json` events on stdin, prints each package result, the
// output of failed tests and build failures, and closes with one line:
//
//	tests: N passed, N failed, N skipped
//
// It exits non-zero when any test or package failed, so `make test` fails with it.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

type event struct {
	Time       time.Time
	Action     string
	Package    string
	Test       string
	Elapsed    float64
	Output     string
	ImportPath string
}

type key struct{ pkg, test string }

func main() {
	os.Exit(run(os.Stdin, os.Stdout))
}

func run(in io.Reader, out io.Writer) int {
	var (
		passed, failed, skipped int
		failedPkgs              []string
		output                  = map[key]*strings.Builder{}
		buildOutput             = map[string]*strings.Builder{}
	)
	appendTo := func(m map[key]*strings.Builder, k key, s string) {
		b, ok := m[k]
		if !ok {
			b = &strings.Builder{}
			m[k] = b
		}
		b.WriteString(s)
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// not an event (e.g. a build error printed by go itself): show it
			fmt.Fprintln(out, string(line))
			continue
		}
		switch e.Action {
		case "build-output":
			b, ok := buildOutput[e.ImportPath]
			if !ok {
				b = &strings.Builder{}
				buildOutput[e.ImportPath] = b
			}
			b.WriteString(e.Output)
		case "build-fail":
			fmt.Fprintf(out, "BUILD FAIL %s\n%s", e.ImportPath, buildOutput[e.ImportPath])
		case "output":
			appendTo(output, key{e.Package, e.Test}, e.Output)
		case "pass", "fail", "skip":
			if e.Test == "" {
				status := map[string]string{"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[e.Action]
				fmt.Fprintf(out, "%s %s\t%.1fs\n", status, e.Package, e.Elapsed)
				if e.Action == "fail" {
					failedPkgs = append(failedPkgs, e.Package)
					// package-level output holds panics, setup failures and "no test files" noise
					if b := output[key{e.Package, ""}]; b != nil {
						fmt.Fprint(out, indent(b.String()))
					}
				}
				continue
			}
			switch e.Action {
			case "pass":
				passed++
			case "skip":
				skipped++
			case "fail":
				failed++
				fmt.Fprintf(out, "--- FAIL %s %s\n", e.Package, e.Test)
				if b := output[key{e.Package, e.Test}]; b != nil {
					fmt.Fprint(out, indent(b.String()))
				}
			}
			delete(output, key{e.Package, e.Test})
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "testsummary: reading input: %v\n", err)
		return 2
	}
	sort.Strings(failedPkgs)
	if len(failedPkgs) > 0 {
		fmt.Fprintf(out, "failed packages: %s\n", strings.Join(failedPkgs, " "))
	}
	fmt.Fprintf(out, "tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || len(failedPkgs) > 0 {
		return 1
	}
	return 0
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString("    " + l)
		}
	}
	return b.String()
}
