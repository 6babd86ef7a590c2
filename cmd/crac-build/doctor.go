package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/crac-build/crac-build/doctor"
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check that this host can build and run warm images",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the results as JSON"}},
		Action: func(c *cli.Context) error {
			rs := doctor.Run(doctor.Options{CriuBundle: criuBundle(c), Launcher: launcherPath(c), Runtime: c.String("runtime")})
			if c.Bool("json") {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				_ = enc.Encode(rs)
			} else {
				for _, r := range rs {
					mark := "ok  "
					if !r.OK {
						mark = "FAIL"
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
