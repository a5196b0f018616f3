package procrules

import (
	"path"
	"strings"
)

// shellNames are the program names of shells. The built-in shell rule
// lists the same names (a test keeps them equal).
var shellNames = map[string]bool{
	"sh": true, "bash": true, "dash": true, "ash": true, "zsh": true, "ksh": true,
	"ksh93": true, "mksh": true, "csh": true, "tcsh": true, "fish": true,
}

// multiCall are binaries that act as the program argv[0] names (busybox
// installed as /bin/sh runs with exe /bin/busybox and argv[0] "sh").
var multiCall = map[string]bool{"busybox": true, "toybox": true}

// wrappers start another program: a container command beginning with one is
// judged by the program it starts.
var wrappers = map[string]bool{"env": true, "tini": true, "tini-static": true, "dumb-init": true, "catatonit": true}

// isInterpreter reports whether a program runs a script named by its first
// argument that is not an option.
func isInterpreter(name string) bool {
	for _, p := range []string{"python", "pypy", "ruby", "perl", "php"} {
		if rest, ok := strings.CutPrefix(name, p); ok && strings.Trim(rest, "0123456789.") == "" {
			return true
		}
	}
	return name == "node" || name == "nodejs" || name == "php-cli"
}

// Names returns the program names a process goes by, the executable's
// basename first, without duplicates:
//   - the basename of exe;
//   - for a multi-call binary (busybox, toybox), the applet it runs: the
//     basename of argv[0], or argv[1] when argv[0] names the binary itself;
//   - for an interpreter (python*, pypy*, node, ruby*, perl*, php*), the
//     basename of the script it runs (the first argument that is not an
//     option), or the module of python -m.
//
// Executables are resolved paths, so package-manager scripts such as pip,
// npm, gem, yum and dnf appear as their interpreter; the script name is how
// rules still see them. Extra names only ever add matches: the executable's
// own basename is always among them.
func Names(exe string, args []string) []string {
	base := path.Base(exe)
	names := []string{base}
	add := func(n string) {
		n = path.Base(strings.TrimPrefix(n, "-")) // login shells run as "-sh"
		if n == "" || n == "." || n == "/" {
			return
		}
		for _, have := range names {
			if have == n {
				return
			}
		}
		names = append(names, n)
	}
	if len(args) == 0 {
		return names
	}
	switch {
	case multiCall[base]:
		applet := path.Base(strings.TrimPrefix(args[0], "-"))
		if multiCall[applet] && len(args) > 1 && !strings.HasPrefix(args[1], "-") {
			applet = args[1]
		}
		add(applet)
	case isInterpreter(base):
		for i := 1; i < len(args); i++ {
			a := args[i]
			switch {
			case a == "-m" && i+1 < len(args): // python -m pip
				add(args[i+1])
				return names
			case a == "-c" || a == "-e" || a == "-p" || a == "-r" || a == "--eval" || a == "--print":
				return names // inline code, no script
			case a == "--":
				if i+1 < len(args) {
					add(args[i+1])
				}
				return names
			case strings.HasPrefix(a, "-"):
				continue
			default:
				add(a)
				return names
			}
		}
	}
	return names
}

// IsShellCommand reports whether a container command runs a shell: its
// program, after wrappers such as env, tini and dumb-init, is a shell
// (sh, bash, busybox sh, …) or a shell script (a name ending in .sh, like
// docker-entrypoint.sh). Images whose command is a shell legitimately start
// shells, so the shell rule leaves them alone. An empty command is unknown
// and counts as not a shell.
func IsShellCommand(cmd []string) bool {
	i := 0
	for i < len(cmd) && wrappers[path.Base(cmd[i])] {
		i++
		for i < len(cmd) && (strings.HasPrefix(cmd[i], "-") || strings.Contains(cmd[i], "=")) {
			i++ // wrapper options, "--", env's VAR=value
		}
	}
	if i >= len(cmd) {
		return false
	}
	name := path.Base(cmd[i])
	if multiCall[name] && i+1 < len(cmd) {
		name = path.Base(cmd[i+1])
	}
	return shellNames[name] || strings.HasSuffix(name, ".sh")
}
