package main

import "runtime/debug"

func apiVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	for _, dep := range info.Deps {
		if dep.Path == "k8s.io/api" {
			return dep.Version
		}
	}
	return "(unknown)"
}
