package main

import (
	"bytes"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestSummaryCountsAndFailures(t *testing.T) {
	g := NewWithT(t)
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"fine\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"boom happened\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"skip","Package":"p","Test":"TestC"}`,
		`{"Action":"fail","Package":"p","Elapsed":1.5}`,
		`{"Action":"build-output","ImportPath":"q [q.test]","Output":"q.go:1: syntax error\n"}`,
		`{"Action":"build-fail","ImportPath":"q [q.test]"}`,
	}, "\n")
	var out bytes.Buffer
	code := run(strings.NewReader(in), &out)
	g.Expect(code).To(Equal(1))
	g.Expect(out.String()).To(ContainSubstring("--- FAIL p TestB\n    boom happened"))
	g.Expect(out.String()).NotTo(ContainSubstring("fine"), "output of passing tests is not shown")
	g.Expect(out.String()).To(ContainSubstring("BUILD FAIL q [q.test]\nq.go:1: syntax error"))
	g.Expect(out.String()).To(HaveSuffix("tests: 1 passed, 1 failed, 1 skipped\n"))
}

func TestSummaryAllGreen(t *testing.T) {
	g := NewWithT(t)
	in := `{"Action":"pass","Package":"p","Test":"TestA"}` + "\n" + `{"Action":"pass","Package":"p","Elapsed":0.2}`
	var out bytes.Buffer
	g.Expect(run(strings.NewReader(in), &out)).To(Equal(0))
	g.Expect(out.String()).To(HaveSuffix("tests: 1 passed, 0 failed, 0 skipped\n"))
}
