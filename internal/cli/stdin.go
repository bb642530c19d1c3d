package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"unsafe"

	"tails-server/internal/apitype"
)

// maxStdinValue bounds what `set-option ... -` reads: far more than any
// option takes (the daemon refuses what is too long for the option).
const maxStdinValue = 1 << 20

// readValue reads the value of `set-option SERVICE OPTION -` from
// standard input, so that it never shows in the process's arguments (in
// `ps` for every user) nor in the shell's history. On a terminal it
// prompts on stderr and reads one line, not echoed for a secret. From a
// pipe or a file it reads one line (a text option: all of it, lines and
// all), without its final newline; a second line, or nothing, is refused.
func readValue(e *env, service string, o apitype.Option) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && isTerminal(f) {
		return readTerminal(e, f, service, o)
	}
	b, err := io.ReadAll(io.LimitReader(e.stdin, maxStdinValue+1))
	if err != nil {
		return "", fmt.Errorf("reading the value of %s from standard input: %w", o.Name, err)
	}
	if len(b) > maxStdinValue {
		return "", usageErr("standard input holds more than %d bytes: too long for the value of %s", maxStdinValue, o.Name)
	}
	v := string(b)
	v = strings.TrimSuffix(strings.TrimSuffix(v, "\n"), "\r")
	if o.Type != "text" && strings.ContainsAny(v, "\n") {
		return "", usageErr("standard input holds more than one line: the value of %s is one line (e.g. printf %%s \"$value\" | tails-server set-option %s %s -)", o.Name, service, o.Name)
	}
	if v == "" {
		return "", usageErr("standard input is empty: nothing to set %s to (to set it empty: tails-server set-option %s %s '')", o.Name, service, o.Name)
	}
	return v, nil
}

// readTerminal prompts for one line on the terminal f, with echo off for
// a secret; Ctrl-C gives the terminal back as it was.
func readTerminal(e *env, f *os.File, service string, o apitype.Option) (string, error) {
	secret := o.Type == "secret"
	what := "New value of " + service + " " + o.Name
	if secret {
		what += " (not shown as you type)"
	}
	fmt.Fprintf(e.stderr, "%s: ", what)
	if secret {
		restore, err := echoOff(f)
		if err != nil {
			return "", fmt.Errorf("turning off the terminal's echo to read %s: %w", o.Name, err)
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		stopped := make(chan struct{})
		go func() {
			select {
			case <-sig:
				restore()
				fmt.Fprintln(e.stderr)
				os.Exit(130)
			case <-stopped:
			}
		}()
		defer func() {
			close(stopped)
			signal.Stop(sig)
			restore()
			fmt.Fprintln(e.stderr) // the Enter typed was not echoed
		}()
	}
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the value of %s: %w", o.Name, err)
	}
	v := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if v == "" {
		return "", usageErr("nothing typed: %s is unchanged (to set it empty: tails-server set-option %s %s '')", o.Name, service, o.Name)
	}
	return v, nil
}

// echoOff turns the terminal's echo off and returns how to turn it back.
func echoOff(f *os.File) (func(), error) {
	var t syscall.Termios
	if err := ioctl(f, syscall.TCGETS, &t); err != nil {
		return nil, err
	}
	old := t
	t.Lflag &^= syscall.ECHO | syscall.ECHOE | syscall.ECHOK | syscall.ECHONL
	if err := ioctl(f, syscall.TCSETS, &t); err != nil {
		return nil, err
	}
	return func() { ioctl(f, syscall.TCSETS, &old) }, nil
}

func ioctl(f *os.File, req uintptr, t *syscall.Termios) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(unsafe.Pointer(t))); errno != 0 {
		return errno
	}
	return nil
}

// secretArgWarning is what set-option says when a secret comes as an
// argument: accepted, but seen by everyone.
func secretArgWarning(service, option string) string {
	return fmt.Sprintf("the value of %s is a secret, and as an argument it shows to every user of this computer in the process list (ps) and stays in your shell's history: "+
		"next time give - instead and type it at the prompt, or pipe it in (printf %%s \"$value\" | tails-server set-option %s %s -)", option, service, option)
}
