// gotmpl renders template test cases with Go's own text/template, as the reference that
// tests/test_template_go.c compares our C engine against. Standard library only.
//
//	gotmpl values CORPUS   cases of (JSON data, template), executed like Ollama parses
//	                       templates: Option("missingkey=zero") plus Ollama's functions
//	gotmpl chat CORPUS     cases of (chat request JSON, template), rendered the way Ollama's
//	                       template.Execute builds .Messages, .Tools, .System... (modes A/B/C)
//
// Corpus format: "=== name" line, data (JSON) lines, a "---" line, then the template up to
// the next "=== " line (the newline before it is not part of the template).
// Output per case: "=== name\n", then "ok N\n" or "err N\n", then N bytes, then "\n".
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

type testCase struct {
	name string
	data string
	tmpl string
}

func readCorpus(path string) ([]testCase, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := strings.TrimSuffix(string(raw), "\n")
	var cases []testCase
	chunks := strings.Split("\n"+text, "\n=== ")
	for _, ch := range chunks[1:] {
		nl := strings.IndexByte(ch, '\n')
		if nl < 0 {
			return nil, fmt.Errorf("case %q: no body", ch)
		}
		name := ch[:nl]
		body := "\n" + ch[nl+1:]
		sep := strings.Index(body, "\n---\n")
		if sep < 0 {
			return nil, fmt.Errorf("case %q: no --- line", name)
		}
		cases = append(cases, testCase{name: name, data: body[:sep], tmpl: body[sep+5:]})
	}
	return cases, nil
}

// ---- values mode: JSON with a few typed extensions ----

// Rec is a struct whose fields all have type any ({"$rec": {...}}, {"$ptr": {...}}).
type Rec struct {
	Name    any
	Role    any
	Content any
	Num     any
	List    any
	Map     any
	Sub     any
	Flag    any
}

// JMap and JList print as their JSON ({"$stringer": ...}), like Ollama's templateArgs.
type JMap map[string]any

func (m JMap) String() string {
	b, _ := json.Marshal(map[string]any(m))
	return string(b)
}

type JList []any

func (l JList) String() string {
	b, _ := json.Marshal([]any(l))
	return string(b)
}

func number(n json.Number) any {
	s := string(n)
	if strings.ContainsAny(s, ".eE") {
		f, _ := n.Float64()
		return f
	}
	i, err := n.Int64()
	if err != nil {
		f, _ := n.Float64()
		return f
	}
	return int(i)
}

func convert(v any) any {
	switch x := v.(type) {
	case json.Number:
		return number(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = convert(e)
		}
		return out
	case map[string]any:
		if r, ok := x["$rec"]; ok {
			return *makeRec(r)
		}
		if r, ok := x["$ptr"]; ok {
			return makeRec(r)
		}
		if s, ok := x["$stringer"]; ok {
			switch y := convert(s).(type) {
			case map[string]any:
				return JMap(y)
			case []any:
				return JList(y)
			}
			return nil
		}
		if _, ok := x["$nil_list"]; ok {
			return []any(nil)
		}
		if s, ok := x["$strings"]; ok {
			var out []string
			for _, e := range s.([]any) {
				out = append(out, e.(string))
			}
			return out
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = convert(e)
		}
		return out
	}
	return v
}

func makeRec(v any) *Rec {
	r := &Rec{}
	fields, _ := v.(map[string]any)
	rv := reflect.ValueOf(r).Elem()
	for k, e := range fields {
		f := rv.FieldByName(k)
		if f.IsValid() {
			c := convert(e)
			if c != nil {
				f.Set(reflect.ValueOf(c))
			}
		}
	}
	return r
}

func decode(s string) (any, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// ---- Ollama's template functions and data types (as templates.md describes them) ----

type PropertyType []string

func (pt *PropertyType) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*pt = []string{s}
		return nil
	}
	var a []string
	if err := json.Unmarshal(data, &a); err != nil {
		return err
	}
	*pt = a
	return nil
}

func (pt PropertyType) MarshalJSON() ([]byte, error) {
	if len(pt) == 1 {
		return json.Marshal(pt[0])
	}
	return json.Marshal([]string(pt))
}

func (pt PropertyType) String() string {
	if len(pt) == 0 {
		return ""
	}
	if len(pt) == 1 {
		return pt[0]
	}
	return fmt.Sprintf("%v", []string(pt))
}

// PropsMap keeps property order (nested "properties" of a property).
type PropsMap struct {
	keys []string
	vals map[string]ToolProperty
}

func (m *PropsMap) UnmarshalJSON(data []byte) error {
	d := json.NewDecoder(bytes.NewReader(data))
	if _, err := d.Token(); err != nil {
		return err
	}
	m.vals = map[string]ToolProperty{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return err
		}
		k := t.(string)
		var p ToolProperty
		if err := d.Decode(&p); err != nil {
			return err
		}
		if _, seen := m.vals[k]; !seen {
			m.keys = append(m.keys, k)
		}
		m.vals[k] = p
	}
	return nil
}

func (m PropsMap) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range m.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(m.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

type ToolProperty struct {
	AnyOf       []ToolProperty `json:"anyOf,omitempty"`
	Type        PropertyType   `json:"type,omitempty"`
	Items       any            `json:"items,omitempty"`
	Description string         `json:"description,omitempty"`
	Enum        []any          `json:"enum,omitempty"`
	Properties  *PropsMap      `json:"properties,omitempty"`
	Required    []string       `json:"required,omitempty"`
}

func mapTS(t string) string {
	switch t {
	case "string":
		return "string"
	case "number", "integer":
		return "number"
	case "boolean":
		return "boolean"
	case "array":
		return "any[]"
	case "object":
		return "Record<string, any>"
	case "null":
		return "null"
	}
	return "any"
}

func (tp ToolProperty) ToTypeScriptType() string {
	if len(tp.AnyOf) > 0 {
		var types []string
		for _, a := range tp.AnyOf {
			types = append(types, a.ToTypeScriptType())
		}
		return strings.Join(types, " | ")
	}
	if len(tp.Type) == 0 {
		return "any"
	}
	var types []string
	for _, t := range tp.Type {
		types = append(types, mapTS(t))
	}
	return strings.Join(types, " | ")
}

var funcs = template.FuncMap{
	"json": func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	},
	"currentDate": func(args ...string) string {
		return time.Now().Format("2006-01-02")
	},
	"yesterdayDate": func(args ...string) string {
		return time.Now().AddDate(0, 0, -1).Format("2006-01-02")
	},
	"toTypeScriptType": func(v any) string {
		if p, ok := v.(ToolProperty); ok {
			return p.ToTypeScriptType()
		}
		if p, ok := v.(*ToolProperty); ok && p != nil {
			return p.ToTypeScriptType()
		}
		return "any"
	},
}

func parseOllamaStyle(text string) (*template.Template, error) {
	return template.New("").Option("missingkey=zero").Funcs(funcs).Parse(text)
}

func runValues(c testCase) (string, error) {
	raw, err := decode(c.data)
	if err != nil {
		return "", fmt.Errorf("bad test data: %v", err)
	}
	t, err := parseOllamaStyle(c.tmpl)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	err = t.Execute(&b, convert(raw))
	return b.String(), err
}

// ---- chat mode: the data Ollama gives templates ----

type templateArgs map[string]any

func (t templateArgs) String() string {
	if t == nil {
		return "{}"
	}
	b, _ := json.Marshal(map[string]any(t))
	return string(b)
}

type templateProperties map[string]ToolProperty

func (t templateProperties) String() string {
	if t == nil {
		return "{}"
	}
	b, _ := json.Marshal(map[string]ToolProperty(t))
	return string(b)
}

type templateToolFunctionParameters struct {
	Type       string             `json:"type"`
	Defs       any                `json:"$defs,omitempty"`
	Items      any                `json:"items,omitempty"`
	Required   []string           `json:"required,omitempty"`
	Properties templateProperties `json:"properties"`
}

// Function and parameters print as JSON (templates.md §2).
func (p templateToolFunctionParameters) String() string {
	b, _ := json.Marshal(p)
	return string(b)
}

type templateToolFunction struct {
	Name        string                         `json:"name"`
	Description string                         `json:"description"`
	Parameters  templateToolFunctionParameters `json:"parameters"`
}

func (f templateToolFunction) String() string {
	b, _ := json.Marshal(f)
	return string(b)
}

type templateTool struct {
	Type     string               `json:"type"`
	Items    any                  `json:"items,omitempty"`
	Function templateToolFunction `json:"function"`
}

func (t templateTool) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

type templateTools []templateTool

func (t templateTools) String() string {
	b, _ := json.Marshal([]templateTool(t))
	return string(b)
}

type templateToolCallFunction struct {
	Index     int
	Name      string
	Arguments templateArgs
}

type templateToolCall struct {
	ID       string
	Function templateToolCallFunction
}

type ImageData []byte

type templateMessage struct {
	Role       string
	Content    string
	Thinking   string
	Images     []ImageData
	ToolCalls  []templateToolCall
	ToolName   string
	ToolCallID string
}

type reqToolCall struct {
	ID       string `json:"id"`
	Function struct {
		Index     int            `json:"index"`
		Name      string         `json:"name"`
		Arguments map[string]any `json:"arguments"`
	} `json:"function"`
}

type reqMessage struct {
	Role       string        `json:"role"`
	Content    string        `json:"content"`
	Thinking   string        `json:"thinking"`
	Images     int           `json:"images"`
	ToolCalls  []reqToolCall `json:"tool_calls"`
	ToolName   string        `json:"tool_name"`
	ToolCallID string        `json:"tool_call_id"`
}

type reqTool struct {
	Type     string `json:"type"`
	Items    any    `json:"items"`
	Function struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Parameters  struct {
			Type       string                  `json:"type"`
			Defs       any                     `json:"$defs"`
			Items      any                     `json:"items"`
			Required   []string                `json:"required"`
			Properties map[string]ToolProperty `json:"properties"`
		} `json:"parameters"`
	} `json:"function"`
}

type chatRequest struct {
	System     string       `json:"system"`
	Messages   []reqMessage `json:"messages"`
	Tools      []reqTool    `json:"tools"`
	Think      bool         `json:"think"`
	ThinkLevel string       `json:"think_level"`
	IsThinkSet bool         `json:"is_think_set"`
	Prompt     string       `json:"prompt"`
	Suffix     string       `json:"suffix"`
}

// identifiers lists field and variable names as Ollama's Identifiers does.
func identifiers(n parse.Node) ([]string, error) {
	var out []string
	var walk func(parse.Node) error
	walk = func(n parse.Node) error {
		switch x := n.(type) {
		case *parse.ListNode:
			for _, c := range x.Nodes {
				if err := walk(c); err != nil {
					return err
				}
			}
		case *parse.TemplateNode:
			if x.Pipe == nil {
				return errors.New("undefined template specified")
			}
			return walk(x.Pipe)
		case *parse.ActionNode:
			return walk(x.Pipe)
		case *parse.IfNode:
			return walkBranch(&x.BranchNode, walk)
		case *parse.RangeNode:
			return walkBranch(&x.BranchNode, walk)
		case *parse.WithNode:
			return walkBranch(&x.BranchNode, walk)
		case *parse.PipeNode:
			for _, c := range x.Cmds {
				for _, a := range c.Args {
					if err := walk(a); err != nil {
						return err
					}
				}
			}
		case *parse.FieldNode:
			out = append(out, x.Ident...)
		case *parse.VariableNode:
			out = append(out, x.Ident...)
		}
		return nil
	}
	err := walk(n)
	return out, err
}

func walkBranch(b *parse.BranchNode, walk func(parse.Node) error) error {
	if err := walk(b.Pipe); err != nil {
		return err
	}
	if err := walk(b.List); err != nil {
		return err
	}
	if b.ElseList != nil {
		return walk(b.ElseList)
	}
	return nil
}

func vars(t *template.Template) (map[string]bool, error) {
	set := map[string]bool{}
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		for _, n := range tt.Root.Nodes {
			ids, err := identifiers(n)
			if err != nil {
				return nil, err
			}
			for _, id := range ids {
				set[strings.ToLower(id)] = true
			}
		}
	}
	return set, nil
}

// cutAtResponse removes, in document order, every node after the first .Response field
// (Ollama's legacy-mode deleteNode; the field's own action stays).
func cutAtResponse(root *parse.ListNode) *parse.ListNode {
	cut := false
	pred := func(n parse.Node) bool {
		if f, ok := n.(*parse.FieldNode); ok {
			for _, id := range f.Ident {
				if id == "Response" {
					cut = true
					return false
				}
			}
		}
		return cut
	}
	var walk func(parse.Node) parse.Node
	walk = func(n parse.Node) parse.Node {
		if pred(n) {
			return nil
		}
		switch x := n.(type) {
		case *parse.ListNode:
			var kept []parse.Node
			for _, c := range x.Nodes {
				if k := walk(c); k != nil {
					kept = append(kept, k)
				}
			}
			x.Nodes = kept
		case *parse.IfNode:
			cutBranch(&x.BranchNode, walk, &cut)
		case *parse.WithNode:
			cutBranch(&x.BranchNode, walk, &cut)
		case *parse.RangeNode:
			cutBranch(&x.BranchNode, walk, &cut)
		case *parse.ActionNode:
			p := walk(x.Pipe)
			if p == nil {
				return nil
			}
			x.Pipe = p.(*parse.PipeNode)
		case *parse.PipeNode:
			var cmds []*parse.CommandNode
			for _, c := range x.Cmds {
				var args []parse.Node
				for _, a := range c.Args {
					if k := walk(a); k != nil {
						args = append(args, k)
					}
				}
				if len(args) == 0 {
					return nil
				}
				c.Args = args
				cmds = append(cmds, c)
			}
			if len(cmds) == 0 {
				return nil
			}
			x.Cmds = cmds
		}
		return n
	}
	return walk(root).(*parse.ListNode)
}

func cutBranch(b *parse.BranchNode, walk func(parse.Node) parse.Node, cut *bool) {
	b.List = walk(b.List).(*parse.ListNode)
	if b.ElseList != nil {
		if *cut {
			b.ElseList = nil // Ollama panics here; the C port drops the else list
		} else {
			b.ElseList = walk(b.ElseList).(*parse.ListNode)
		}
	}
}

func convertTools(tools []reqTool) templateTools {
	if tools == nil {
		return nil
	}
	out := make(templateTools, len(tools))
	for i, t := range tools {
		p := t.Function.Parameters
		out[i] = templateTool{
			Type:  t.Type,
			Items: t.Items,
			Function: templateToolFunction{
				Name:        t.Function.Name,
				Description: t.Function.Description,
				Parameters: templateToolFunctionParameters{
					Type:       p.Type,
					Defs:       p.Defs,
					Items:      p.Items,
					Required:   p.Required,
					Properties: templateProperties(p.Properties),
				},
			},
		}
	}
	return out
}

func imageTags(msgs []reqMessage) {
	id := 0
	for i := range msgs {
		prefix := ""
		content := msgs[i].Content
		for k := 0; k < msgs[i].Images; k++ {
			tag := fmt.Sprintf("[img-%d]", id)
			id++
			if !strings.Contains(content, "[img]") {
				prefix += tag
			} else {
				content = strings.Replace(content, "[img]", tag, 1)
			}
		}
		msgs[i].Content = prefix + content
	}
}

func runChat(c testCase) (string, error) {
	var req chatRequest
	if err := json.Unmarshal([]byte(c.data), &req); err != nil {
		return "", fmt.Errorf("bad test data: %v", err)
	}
	t, err := parseOllamaStyle(c.tmpl)
	if err != nil {
		return "", err
	}
	vs, err := vars(t)
	if err != nil {
		return "", err
	}
	if !vs["messages"] && !vs["response"] {
		t.Tree.Root.Nodes = append(t.Tree.Root.Nodes, &parse.ActionNode{
			NodeType: parse.NodeAction,
			Pipe: &parse.PipeNode{NodeType: parse.NodePipe, Cmds: []*parse.CommandNode{{
				NodeType: parse.NodeCommand,
				Args:     []parse.Node{&parse.FieldNode{NodeType: parse.NodeField, Ident: []string{"Response"}}},
			}}},
		})
	}
	var b bytes.Buffer
	if req.Prompt != "" && req.Suffix != "" {
		err := t.Execute(&b, map[string]any{
			"Prompt": req.Prompt, "Suffix": req.Suffix, "Response": "",
			"Think": req.Think, "ThinkLevel": req.ThinkLevel, "IsThinkSet": req.IsThinkSet,
		})
		return b.String(), err
	}
	msgs := req.Messages
	if req.System != "" && (len(msgs) == 0 || msgs[0].Role != "system") {
		msgs = append([]reqMessage{{Role: "system", Content: req.System}}, msgs...)
	}
	imageTags(msgs)

	// collate
	var system []string
	var coll []*reqMessage
	for i := range msgs {
		if msgs[i].Role == "system" {
			system = append(system, msgs[i].Content)
		}
		if len(coll) > 0 && coll[len(coll)-1].Role == msgs[i].Role && msgs[i].Role != "tool" {
			coll[len(coll)-1].Content += "\n\n" + msgs[i].Content
		} else {
			coll = append(coll, &msgs[i])
		}
	}

	if vs["messages"] {
		var tm []*templateMessage
		for _, m := range coll {
			var calls []templateToolCall
			for _, tc := range m.ToolCalls {
				calls = append(calls, templateToolCall{ID: tc.ID, Function: templateToolCallFunction{
					Index: tc.Function.Index, Name: tc.Function.Name, Arguments: templateArgs(tc.Function.Arguments),
				}})
			}
			var images []ImageData
			for k := 0; k < m.Images; k++ {
				images = append(images, ImageData{})
			}
			tm = append(tm, &templateMessage{
				Role: m.Role, Content: m.Content, Thinking: m.Thinking, Images: images,
				ToolCalls: calls, ToolName: m.ToolName, ToolCallID: m.ToolCallID,
			})
		}
		err := t.Execute(&b, map[string]any{
			"System": strings.Join(system, "\n\n"), "Messages": tm, "Tools": convertTools(req.Tools),
			"Response": "", "Think": req.Think, "ThinkLevel": req.ThinkLevel, "IsThinkSet": req.IsThinkSet,
		})
		return b.String(), err
	}

	sys, prompt, response := "", "", ""
	data := func() map[string]any {
		return map[string]any{
			"System": sys, "Prompt": prompt, "Response": response,
			"Think": req.Think, "ThinkLevel": req.ThinkLevel, "IsThinkSet": req.IsThinkSet,
		}
	}
	for _, m := range coll {
		switch m.Role {
		case "system":
			if prompt != "" || response != "" {
				if err := t.Execute(&b, data()); err != nil {
					return "", err
				}
				sys, prompt, response = "", "", ""
			}
			sys = m.Content
		case "user":
			if response != "" {
				if err := t.Execute(&b, data()); err != nil {
					return "", err
				}
				sys, prompt, response = "", "", ""
			}
			prompt = m.Content
		case "assistant":
			response = m.Content
		}
	}
	tree := parse.Tree{Root: cutAtResponse(t.Tree.Root.CopyList())}
	cutT, err := template.New("").AddParseTree("", &tree)
	if err != nil {
		return "", err
	}
	if err := cutT.Execute(&b, data()); err != nil {
		return "", err
	}
	return b.String(), nil
}

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "values" && os.Args[1] != "chat") {
		fmt.Fprintln(os.Stderr, "usage: gotmpl values|chat CORPUS")
		os.Exit(2)
	}
	cases, err := readCorpus(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gotmpl:", err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for _, c := range cases {
		var out string
		var err error
		if os.Args[1] == "values" {
			out, err = runValues(c)
		} else {
			out, err = runChat(c)
		}
		fmt.Fprintf(w, "=== %s\n", c.name)
		if err != nil {
			fmt.Fprintf(w, "err %d\n%s\n", len(err.Error()), err.Error())
		} else {
			fmt.Fprintf(w, "ok %d\n%s\n", len(out), out)
		}
	}
}
