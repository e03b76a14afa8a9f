package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func noSignals() context.Context {
	panic("the signal handler must not be set up for this invocation")
}

func TestHelpExitsZeroAndDocumentsFlags(t *testing.T) {
	g := NewWithT(t)
	for _, arg := range []string{"--help", "-h"} {
		var stdout, stderr bytes.Buffer
		g.Expect(run([]string{arg}, func(string) string { return "" }, &stdout, &stderr, noSignals)).To(Equal(exitOK), arg)
		g.Expect(stdout.String()).To(ContainSubstring("--batch-idle-duration duration"))
		g.Expect(stdout.String()).To(ContainSubstring("[$VPSIE_AUTOSCALER_BATCH_IDLE_DURATION]"))
		g.Expect(stderr.String()).To(BeEmpty())
	}
}

func TestUsageErrorsExitTwoWithTheMessage(t *testing.T) {
	g := NewWithT(t)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "--cluster-id: is required"},
		{[]string{"--cluster-id=c1", "--bogus"}, nil, "flag provided but not defined: -bogus"},
		{[]string{"--cluster-id=c1", "--batch-idle-duration=1m"}, nil, "--batch-idle-duration: 1m0s must not exceed --batch-max-duration 10s"},
		{nil, map[string]string{"VPSIE_AUTOSCALER_CLUSTER_ID": "c1", "VPSIE_AUTOSCALER_LOG_LEVEL": "loud"}, "--log-level: must be one of"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, func(k string) string { return tc.env[k] }, &stdout, &stderr, noSignals)
		g.Expect(code).To(Equal(exitUsage), strings.Join(tc.args, " "))
		g.Expect(stderr.String()).To(ContainSubstring(tc.want))
		g.Expect(stderr.String()).To(ContainSubstring("--help"))
	}
}
