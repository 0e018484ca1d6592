package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dvs-project/dvs/internal/resource"
)

const kindsHelp = "KIND is switch, portgroup (pg), host, uplink or port; singular or plural, any case."

func (m *managerConn) applyCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or update resources from a YAML or JSON file",
		Long: `Create or update the resources in FILE ("-" for standard input) on the
manager, all of them or none: YAML or JSON documents separated by "---", each
with apiVersion dvs/v1, kind, metadata.name and spec. Unknown fields are
refused. Prints, for each resource, whether it was created, updated or
unchanged.`,
		Example: `  dvs apply -f net.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("-f FILE is required")
			}
			var data []byte
			var err error
			if file == "-" {
				data, err = io.ReadAll(m.c.stdin)
			} else {
				data, err = os.ReadFile(file)
			}
			if err != nil {
				return err
			}
			objs, err := resource.Decode(data)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if len(objs) == 0 {
				return fmt.Errorf("%s: no resources", file)
			}
			cl, err := m.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			res, err := cl.Apply(cmd.Context(), objs)
			if err != nil {
				return wrapErr(err)
			}
			if m.c.json() {
				return m.c.printJSON(res)
			}
			if m.c.output == "yaml" {
				return printYAML(m.c.stdout, res)
			}
			for _, r := range res.Results {
				fmt.Fprintf(m.c.stdout, "%s/%s %s\n", strings.ToLower(string(r.Kind)), r.Name, r.Action)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the file of resources (- for stdin)")
	return cmd
}

func (m *managerConn) getCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get KIND [NAME]",
		Short: "List resources of a kind, or show one",
		Long:  "List the resources of KIND, or show the one named NAME.\n\n" + kindsHelp,
		Example: `  dvs get portgroups
  dvs get port vm1 -o yaml`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := resource.ParseKind(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			return m.get(cmd.Context(), k, name)
		},
	}
}

// get prints one resource or all of a kind.
func (m *managerConn) get(ctx context.Context, k resource.Kind, name string) error {
	cl, err := m.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	var objs []resource.Object
	if name != "" {
		o, err := cl.Get(ctx, k, name)
		if err != nil {
			return wrapErr(err)
		}
		objs = []resource.Object{o}
	} else if objs, _, err = cl.List(ctx, k); err != nil {
		return wrapErr(err)
	}
	switch {
	case m.c.json() && name != "":
		return m.c.printJSON(objs[0])
	case m.c.json():
		return m.c.printJSON(objs)
	case m.c.output == "yaml" && name != "":
		return printYAML(m.c.stdout, objs[0])
	case m.c.output == "yaml":
		return printYAML(m.c.stdout, objs)
	}
	printTable(m.c.stdout, k, objs)
	return nil
}

func printYAML(w io.Writer, v any) error {
	b, err := resource.MarshalYAML(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func printTable(w io.Writer, k resource.Kind, objs []resource.Object) {
	var t *table
	switch k {
	case resource.KindSwitch:
		t = newTable(w, "NAME", "OVERLAY", "MTU", "PORTGROUPS", "PORTS", "HOSTS", "REVISION")
	case resource.KindPortGroup:
		t = newTable(w, "NAME", "SWITCH", "VLAN", "VNI", "PORTS", "HOSTS", "REVISION")
	case resource.KindHost:
		t = newTable(w, "NAME", "ADDRESS", "STATE", "REVISION", "TARGET", "CONVERGED", "HEARTBEAT", "VERSION")
	case resource.KindUplink:
		t = newTable(w, "NAME", "SWITCH", "HOST", "INTERFACES", "POLICY", "REVISION", "WARNINGS")
	case resource.KindPort:
		t = newTable(w, "NAME", "PORTGROUP", "MAC", "HOST", "INTERFACE", "OFPORT", "IPS", "REVISION")
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *resource.Switch:
			t.row(o.Metadata.Name, o.Spec.Overlay, o.Spec.MTU, o.Status.PortGroups, o.Status.Ports, len(o.Status.Hosts), o.Metadata.Revision)
		case *resource.PortGroup:
			vlan := "-"
			switch {
			case o.Spec.VLAN != 0:
				vlan = fmt.Sprint(o.Spec.VLAN)
			case len(o.Spec.Trunk) > 0:
				var rs []string
				for _, r := range o.Spec.Trunk {
					rs = append(rs, r.String())
				}
				vlan = "trunk " + strings.Join(rs, ",")
			}
			vni := "-"
			if o.Status.VNI != 0 {
				vni = fmt.Sprint(o.Status.VNI)
			}
			t.row(o.Metadata.Name, o.Spec.Switch, vlan, vni, o.Status.Ports, len(o.Status.Hosts), o.Metadata.Revision)
		case *resource.Host:
			st := o.Status
			t.row(o.Metadata.Name, o.Spec.Address, orDash(st.State), revOrDash(st.AckedRevision), revOrDash(st.TargetRevision),
				yesNo(st.Converged), heartbeatAge(st), orDash(o.Spec.AgentVersion))
		case *resource.Uplink:
			ifs := o.Spec.Interface
			if ifs == "" {
				ifs = strings.Join(o.Spec.Interfaces, ",")
			}
			t.row(o.Metadata.Name, o.Spec.Switch, o.Spec.Host, ifs, orDash(o.Spec.Policy), o.Metadata.Revision,
				orDash(strings.Join(o.Status.Warnings, "; ")))
		case *resource.Port:
			of := "-"
			if o.Status.OFPort != 0 {
				of = fmt.Sprint(o.Status.OFPort)
			}
			t.row(o.Metadata.Name, o.Spec.PortGroup, o.Spec.MAC, orDash(o.Spec.Host), orDash(o.Spec.Interface), of,
				orDash(strings.Join(o.Spec.IPs, ",")), o.Metadata.Revision)
		}
	}
	t.flush()
}

func (m *managerConn) describeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "describe KIND NAME",
		Short: "Show one resource in full, with its status",
		Long:  "Show the resource KIND/NAME in full (spec, status, revisions) as YAML.\n\n" + kindsHelp,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := resource.ParseKind(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			cl, err := m.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			o, err := cl.Get(cmd.Context(), k, args[1])
			if err != nil {
				return wrapErr(err)
			}
			if m.c.json() {
				return m.c.printJSON(o)
			}
			if h, ok := o.(*resource.Host); ok {
				st := h.Status
				fmt.Fprintf(m.c.stdout, "# %s: reached revision %s of %s, heartbeat %s ago\n",
					orDash(st.State), revOrDash(st.AckedRevision), revOrDash(st.TargetRevision), heartbeatAge(st))
			}
			return printYAML(m.c.stdout, o)
		},
	}
}

func (m *managerConn) deleteCmd() *cobra.Command {
	var ifMatch int64
	cmd := &cobra.Command{
		Use:   "delete KIND NAME",
		Short: "Delete a resource",
		Long:  "Delete the resource KIND/NAME. Resources still in use (a switch with port groups, a port group with ports, ...) are refused.\n\n" + kindsHelp,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := resource.ParseKind(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			cl, err := m.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := cl.Delete(cmd.Context(), k, args[1], ifMatch); err != nil {
				return wrapErr(err)
			}
			fmt.Fprintf(m.c.stdout, "%s/%s deleted\n", strings.ToLower(string(k)), args[1])
			return nil
		},
	}
	cmd.Flags().Int64Var(&ifMatch, "if-revision", 0, "delete only if the resource is at this revision")
	return cmd
}
