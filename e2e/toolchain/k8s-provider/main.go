// Command pulumi-resource-kubernetes serves the Pulumi Kubernetes provider, as upstream's
// cmd/pulumi-resource-kubernetes does. Upstream's main embeds schema-embed.json and
// terraform-mapping-embed.json, which its `go generate` step writes and which are not in the
// module zip: e2e/toolchain/build.sh writes them beside this file (in a build copy, not in the
// repo) from the module's schema.json and terraform-mapping.json before building.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
