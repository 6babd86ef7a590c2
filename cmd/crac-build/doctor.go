package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/crac-build/crac-build/internal/doctor"
	"github.com/crac-build/crac-build/internal/seccomp"
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check that this host can build warm images, or (--engine) restore them",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the results as JSON"},
			&cli.StringFlag{Name: "engine", Usage: "check the `ENGINE` instead: docker, podman or containerd (version, flags)"},
			&cli.StringFlag{Name: "image", Usage: "with --engine: start this warm `IMAGE` there, report the launcher's line"},
			&cli.StringFlag{Name: "seccomp-profile", Usage: "with --engine: the `FILE` to name in the flags (default: crac-restore.json)"},
		},
		Action: func(c *cli.Context) error {
			var rs []doctor.Result
			if e := c.String("engine"); e != "" {
				rs = doctor.EngineChecks(c.Context, doctor.EngineOptions{Engine: e, Image: c.String("image"), SeccompProfile: c.String("seccomp-profile")})
			} else {
				rs = doctor.Run(doctor.Options{CriuBundle: criuBundle(c), Launcher: launcherPath(c), Runtime: c.String("runtime")})
			}
			if c.Bool("json") {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				_ = enc.Encode(rs)
			} else {
				for _, r := range rs {
					mark := "ok  "
					if !r.OK {
						mark = "FAIL"
					} else if r.Name == "note" || r.Name == "run with" {
						mark = "    "
					}
					fmt.Printf("%s %-14s %s\n", mark, r.Name, r.Detail)
					if !r.OK && r.Fix != "" {
						fmt.Printf("     %-14s fix: %s\n", "", r.Fix)
					}
				}
			}
			if !doctor.OK(rs) {
				return cli.Exit("", 1)
			}
			return nil
		},
	}
}

// seccompProfileCommand prints the restore profile (Docker's default with
// clone3 allowed), for --security-opt seccomp=FILE and Kubernetes nodes.
func seccompProfileCommand() *cli.Command {
	return &cli.Command{
		Name:  "seccomp-profile",
		Usage: "print the seccomp profile to restore under: > crac-restore.json",
		Action: func(c *cli.Context) error {
			b, err := seccomp.Marshal(seccomp.RestoreProfile())
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(b)
			return err
		},
	}
}
