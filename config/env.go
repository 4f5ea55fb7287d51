package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Env looks up an environment variable the way os.LookupEnv does; ParseEnv
// takes one so that tests can pass a map and nothing here reads the
// process's environment.
type Env func(name string) (value string, ok bool)

// ParseEnv is Parse with environment variables filled into the file's
// values: ${NAME} is replaced by the variable's value (set but empty is
// fine), $$ is a literal $, and a $ before anything else stays as it is.
// NAME is letters, digits and _, not starting with a digit. Only values
// are expanded, never field names or comments, and a value is expanded
// after the YAML is read, so a variable's text never changes the file's
// structure; an unquoted value is typed after expansion (buckets: ${N}
// with N=8 is the number 8), a quoted one stays a string. A variable that
// is not set, or a ${ that is not a reference, is an error naming the
// variable with its line and path; like every other problem in the file
// they are all reported at once. With env nil, nothing is expanded (Parse).
func ParseEnv(data []byte, path string, env Env) (*Job, error) {
	if path == "" {
		path = "job file"
	}
	root, fe := document(data)
	if fe != nil {
		fe.File = path
		return nil, Errors{*fe}
	}
	p := &parser{file: path, keys: map[*yaml.Node]*yaml.Node{}}
	if env != nil {
		p.expand(root, nil, "", env)
	}
	job := p.job(root)
	if len(p.errs) > 0 {
		p.errs.sort()
		return nil, p.errs
	}
	return job, nil
}

// LoadEnv is Load with environment variables filled in as ParseEnv does.
func LoadEnv(path string, env Env) (*Job, error) {
	return load(path, env)
}

// expand fills the environment into every scalar value under n (path is
// n's path in the file, key the key naming it or nil). A value with a
// problem is left as written and marked, with its key, so that the field
// checks do not report it a second time.
func (p *parser) expand(n, key *yaml.Node, path string, env Env) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			p.expand(n.Content[i+1], k, join(path, k.Value), env)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.expand(c, nil, fmt.Sprintf("%s[%d]", path, i), env)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		v, problems := expandValue(n.Value, env)
		if len(problems) > 0 {
			for _, msg := range problems {
				p.errorf(n, path, "%s", msg)
			}
			if p.unexpanded == nil {
				p.unexpanded = map[*yaml.Node]bool{}
			}
			p.unexpanded[n] = true
			if key != nil {
				p.unexpanded[key] = true
			}
			return
		}
		n.Value = v
		if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 && n.Tag == strTag {
			// Type the plain value by what it expanded to.
			n.Tag = ""
		}
	}
}

// expandValue replaces ${NAME} and $$ in s; problems lists what cannot be
// expanded.
func expandValue(s string, env Env) (string, []string) {
	var b strings.Builder
	var problems []string
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String(), problems
		}
		b.WriteString(s[:i])
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			s = s[i+2:]
			continue
		case '{':
		default:
			b.WriteByte('$')
			s = s[i+1:]
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			problems = append(problems, fmt.Sprintf("%q: unterminated ${: write ${NAME}, or $$ for a literal $", s[i:]))
			return "", problems
		}
		ref, name := s[i:i+end+1], s[i+2:i+end]
		s = s[i+end+1:]
		if !isEnvName(name) {
			problems = append(problems, fmt.Sprintf("%s: not an environment variable reference: write ${NAME} (letters, digits and _), or $$ for a literal $", ref))
			continue
		}
		v, ok := env(name)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: environment variable %s is not set", ref, name))
			continue
		}
		b.WriteString(v)
	}
}

func isEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
