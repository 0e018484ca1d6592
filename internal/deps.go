//go:build deps

// This file pins dependencies that packages are about to use, so that
// parallel work never races on go.mod. It is never built.
package internal

import (
	_ "github.com/spf13/cobra"
	_ "github.com/vishvananda/netlink"
	_ "github.com/vishvananda/netns"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/sys/unix"
	_ "golang.org/x/term"
)
