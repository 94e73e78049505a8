//go:build tools

// Package tools pins the Pulumi CLI's module, so `go build github.com/pulumi/pulumi/pkg/v3/cmd/pulumi`
// in this folder builds it with exactly the versions in go.sum.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
