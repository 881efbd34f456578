/* Library templates: our own Go-template text for each prompt format Ollama ships
 * (templates.md §9), its default stop strings, and recognition of a GGUF's Jinja
 * chat_template. The texts are written for this project; they render the same bytes as
 * Ollama's <name>.gotmpl (checked by tests/test_template_families.c against Ollama's test
 * renderings and, through Go itself, on more conversations). */
#include "template/internal.h"

#include <string.h>

/* Collects consecutive system messages into $sys (joined by a blank line) for formats that
 * print the system text in front of the next user turn. */
#define SYS_COLLECT                                                                                \
    "{{- if eq .Role \"system\" }}{{ if $sys }}{{ $sys = print $sys \"\\n\\n\" .Content }}"        \
    "{{ else }}{{ $sys = .Content }}{{ end }}\n"

static const char t_alfred[] =
    "{{- range $m := .Messages }}<start_{{ $m.Role }}>{{ $m.Content }}<end_message>{{ end -}}\n"
    "<start_assistant>";

static const char t_alpaca[] = "{{- $sys := \"\" }}\n"
                               "{{- range .Messages }}\n" SYS_COLLECT
                               "{{- else if eq .Role \"user\" }}{{ with $sys }}{{ . }}\n"
                               "\n"
                               "{{ end }}{{ $sys = \"\" }}### Instruction:\n"
                               "{{ .Content }}\n"
                               "\n"
                               "{{ else if eq .Role \"assistant\" }}### Response:\n"
                               "{{ .Content }}\n"
                               "\n"
                               "{{ end }}\n"
                               "{{- end }}### Response:\n";

static const char t_chatml[] = "{{- range .Messages -}}\n"
                               "<|im_start|>{{ .Role }}\n"
                               "{{ .Content }}<|im_end|>\n"
                               "{{ end -}}\n"
                               "<|im_start|>assistant\n";

static const char t_chatqa[] =
    "{{- range .Messages -}}\n"
    "{{ if eq .Role \"system\" }}System:{{ else if eq .Role \"user\" }}User:"
    "{{ else if eq .Role \"assistant\" }}Assistant:{{ end }} {{ .Content }}\n"
    "\n"
    "{{ end -}}\n"
    "Assistant:";

static const char t_codellama70b[] =
    "{{- range .Messages }}Source:"
    "{{ if eq .Role \"system\" }} system{{ else if eq .Role \"user\" }} user"
    "{{ else if eq .Role \"assistant\" }} assistant{{ end }}\n"
    "\n"
    " {{ .Content }} <step> {{ end -}}\n"
    "Source: assistant\n"
    "Destination: user\n"
    "\n"
    " ";

static const char t_command_r[] =
    "{{- $tools := .Tools }}{{ $system := .System }}\n"
    "{{- if or $tools $system -}}\n"
    "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>\n"
    "{{- if not $tools }}{{ $system }}{{ else -}}\n"
    "# Safety Preamble\n"
    "The instructions in this section override those in the task description and style guide "
    "sections. Don't answer questions that are harmful or immoral.\n"
    "\n"
    "# System Preamble\n"
    "## Basic Rules\n"
    "You are a powerful conversational AI trained by Cohere to help people. You are augmented by "
    "a number of tools, and your job is to use and consume the output of these tools to best help "
    "the user. You will see a conversation history between yourself and a user, ending with an "
    "utterance from the user. You will then see a specific instruction instructing you what kind "
    "of response to generate. When you answer the user's requests, you cite your sources in your "
    "answers, according to those instructions.\n"
    "\n"
    "{{ with $system }}# User Preamble\n"
    "{{ . }}{{ end }}\n"
    "\n"
    "## Available Tools\n"
    "Here is a list of tools that you have available to you:\n"
    "{{- range $tool := $tools }}{{ $fn := $tool.Function }}{{ $props := $fn.Parameters.Properties "
    "}}\n"
    "\n"
    "```python\n"
    "def {{ $fn.Name }}("
    "{{ range $name, $p := $props }}{{ $name }}: {{ $p.Type }}, {{ end }}) -> List[Dict]:\n"
    "    '''{{ $fn.Description }}{{ if $props }}\n"
    "\n"
    "    Args:{{ range $name, $p := $props }}\n"
    "        {{ $name }} ({{ $p.Type }}): {{ $p.Description }}{{ end }}{{ end }}\n"
    "    '''\n"
    "    pass\n"
    "```{{ end }}{{ end }}<|END_OF_TURN_TOKEN|>\n"
    "{{- end }}\n"
    "{{- range $msg := .Messages }}{{ if ne $msg.Role \"system\" -}}\n"
    "<|START_OF_TURN_TOKEN|>\n"
    "{{- if eq $msg.Role \"user\" }}<|USER_TOKEN|>{{ $msg.Content }}\n"
    "{{- if $tools }}<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>Write 'Action:' followed by a "
    "json-formatted list of actions that you want to perform in order to produce a good response "
    "to the user's last input. You can use any of the supplied tools any number of times, but you "
    "should aim to execute the minimum number of necessary actions for the input. You should use "
    "the `directly-answer` tool if calling the other tools is unnecessary. The list of actions you "
    "want to call should be formatted as a list of json objects, for example:\n"
    "```json\n"
    "[\n"
    "    {\n"
    "        \"tool_name\": title of the tool in the specification,\n"
    "        \"parameters\": a dict of parameters to input into the tool as they are defined in "
    "the specs, or {} if it takes no parameters\n"
    "    }\n"
    "]```{{ end }}\n"
    "{{- else if eq $msg.Role \"assistant\" }}<|CHATBOT_TOKEN|>\n"
    "{{- if $msg.Content }}{{ $msg.Content }}{{ else if $msg.ToolCalls }}\n"
    "Action: ```json\n"
    "[{{ range $call := $msg.ToolCalls }}\n"
    "    {\n"
    "        \"tool_name\": \"{{ $call.Function.Name }}\",\n"
    "        \"parameters\": {{ $call.Function.Arguments }}\n"
    "    }{{ end }}\n"
    "]```{{ end }}\n"
    "{{- else if eq $msg.Role \"tool\" }}<|SYSTEM_TOKEN|><results>\n"
    "console_output: {{ $msg.Content }}\n"
    "</results>{{ end }}<|END_OF_TURN_TOKEN|>\n"
    "{{- end }}{{ end -}}\n"
    "<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>\n";

static const char t_falcon[] =
    "{{- range .Messages -}}\n"
    "{{ if eq .Role \"system\" }}System: {{ .Content }}\n"
    "{{ else -}}\n"
    "{{ if eq .Role \"user\" }}User:{{ else if eq .Role \"assistant\" }}Falcon:{{ end }}\n"
    "{{ .Content }}\n"
    "{{ end }}\n"
    "{{- end -}}\n"
    "Falcon:\n";

static const char t_gemma[] = "{{- $sys := \"\" }}\n"
                              "{{- range .Messages }}\n" SYS_COLLECT "{{- else }}\n"
                              "{{- if eq .Role \"user\" }}<start_of_turn>user{{ with $sys }}\n"
                              "{{ . }}{{ end }}{{ $sys = \"\" }}\n"
                              "{{- else if eq .Role \"assistant\" }}<start_of_turn>model\n"
                              "{{- end }}\n"
                              "{{ .Content }}<end_of_turn>\n"
                              "{{ end }}\n"
                              "{{- end }}<start_of_turn>model\n";

static const char t_gemma3[] = "{{- range $i, $m := .Messages }}\n"
                               "{{- if eq $m.Role \"user\" }}<start_of_turn>user\n"
                               "{{ if and (eq $i 1) $.System }}{{ $.System }}\n"
                               "\n"
                               "{{ end }}{{ $m.Content }}<end_of_turn>\n"
                               "{{ else if eq $m.Role \"assistant\" }}<start_of_turn>model\n"
                               "{{ $m.Content }}<end_of_turn>\n"
                               "{{ end }}\n"
                               "{{- if eq 1 (len (slice $.Messages $i)) }}<start_of_turn>model\n"
                               "{{ end }}\n"
                               "{{- end }}\n";

static const char t_granite[] =
    "{{- range .Messages }}"
    "{{ if eq .Role \"system\" }}System:{{ else if eq .Role \"user\" }}Question:"
    "{{ else if eq .Role \"assistant\" }}Answer:{{ end }}\n"
    "{{ .Content }}\n"
    "\n"
    "{{ end }}Answer:\n";

static const char t_llama2[] =
    "{{- $sys := \"\" -}}\n"
    "[INST] {{ range .Messages }}\n" SYS_COLLECT
    "{{- else if eq .Role \"user\" }}<<SYS>>{{ with $sys }}\n"
    "{{ . }}\n"
    "{{ end }}{{ $sys = \"\" }}<</SYS>>\n"
    "\n"
    "{{ .Content }} [/INST]\n"
    "{{- else if eq .Role \"assistant\" }} {{ .Content }}</s><s>[INST] {{ end }}\n"
    "{{- end }}";

static const char t_llama3[] =
    "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n"
    "\n"
    "{{ .Content }}<|eot_id|>{{ end -}}\n"
    "<|start_header_id|>assistant<|end_header_id|>\n"
    "\n";

static const char t_magicoder[] = "{{- $sys := \"\" }}\n"
                                  "{{- range .Messages }}\n" SYS_COLLECT "{{- else }}\n"
                                  "{{- if eq .Role \"user\" }}{{ with $sys }}{{ . }}\n"
                                  "\n"
                                  "{{ end }}{{ $sys = \"\" }}@@ Instruction\n"
                                  "{{- else if eq .Role \"assistant\" }}@@ Response\n"
                                  "{{- end }}\n"
                                  "{{ .Content }}\n"
                                  "\n"
                                  "{{ end }}\n"
                                  "{{- end }}@@ Response\n";

static const char t_mistral[] =
    "[INST] {{ range .Messages }}\n"
    "{{- if eq .Role \"system\" }}{{ .Content }}\n"
    "\n"
    "{{ else if eq .Role \"user\" }}{{ .Content }}[/INST]\n"
    "{{- else if eq .Role \"assistant\" }} {{ .Content }}</s>[INST] {{ end }}\n"
    "{{- end }}";

static const char t_openchat[] =
    "{{- range .Messages }}GPT4 Correct"
    "{{ if eq .Role \"system\" }} System:{{ else if eq .Role \"user\" }} User:"
    "{{ else if eq .Role \"assistant\" }} Assistant:{{ end }} {{ .Content }}<|end_of_turn|>"
    "{{ end }}GPT4 Correct Assistant:";

static const char t_phi3[] = "{{- range .Messages -}}\n"
                             "<|{{ .Role }}|>\n"
                             "{{ .Content }}<|end|>\n"
                             "{{ end -}}\n"
                             "<|assistant|>\n";

static const char t_solar[] = "{{- range .Messages }}\n"
                              "{{- if eq .Role \"assistant\" }}### Assistant:\n"
                              "{{ .Content }}</s>\n"
                              "\n"
                              "{{ else }}{{ if eq .Role \"system\" }}### System:"
                              "{{ else if eq .Role \"user\" }}### User:{{ end }}\n"
                              "{{ .Content }}\n"
                              "\n"
                              "{{ end }}\n"
                              "{{- end }}### Assistant:\n";

static const char t_starcoder2[] = "{{- $sys := \"\" }}\n"
                                   "{{- range .Messages }}\n" SYS_COLLECT
                                   "{{- else if eq .Role \"user\" }}{{ with $sys }}{{ . }}\n"
                                   "\n"
                                   "{{ end }}{{ $sys = \"\" }}### Instruction\n"
                                   "{{ .Content }}\n"
                                   "\n"
                                   "{{ else if eq .Role \"assistant\" }}### Response\n"
                                   "{{ .Content }}<|endoftext|>\n"
                                   "\n"
                                   "{{ end }}\n"
                                   "{{- end }}### Response\n";

static const char t_vicuna[] = "{{- $sys := \"\" }}\n"
                               "{{- range .Messages }}\n" SYS_COLLECT
                               "{{- else if eq .Role \"user\" }}{{ with $sys }}{{ . }}\n"
                               "\n"
                               "{{ end }}{{ $sys = \"\" }}USER: {{ .Content }}\n"
                               "{{ else if eq .Role \"assistant\" }}ASSISTANT: {{ .Content }}</s>\n"
                               "{{ end }}\n"
                               "{{- end }}ASSISTANT:";

static const char t_zephyr[] = "{{- range .Messages -}}\n"
                               "<|{{ .Role }}|>\n"
                               "{{ .Content }}</s>\n"
                               "{{ end -}}\n"
                               "<|assistant|>\n";

#define STOPS(...)                                                                                 \
    (const char *const[]){__VA_ARGS__},                                                            \
        (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static const struct tmpl_family families[] = {
    {"alfred", t_alfred,
     STOPS("<start_system>", "<end_message>", "<start_user>", "<start_assistant>")},
    {"alpaca", t_alpaca, STOPS("### Instruction:", "### Response")},
    {"chatml", t_chatml, STOPS("<|im_start|>", "<|im_end|>")},
    {"chatqa", t_chatqa, STOPS("System:", "User:", "Assistant:", "<|begin_of_text|>")},
    {"codellama-70b-instruct", t_codellama70b, STOPS("Source:", "Destination:", "<step>")},
    {"command-r", t_command_r, STOPS("<|START_OF_TURN_TOKEN|>", "<|END_OF_TURN_TOKEN|>")},
    {"falcon-instruct", t_falcon, STOPS("User:", "Assistant:")},
    {"gemma-instruct", t_gemma, STOPS("<start_of_turn>", "<end_of_turn>")},
    {"gemma3-instruct", t_gemma3, STOPS("<end_of_turn>")},
    {"granite-instruct", t_granite, STOPS("System:", "Question:", "Answer:")},
    {"llama2-chat", t_llama2, STOPS("[INST]", "[/INST]", "<<SYS>>", "<</SYS>>")},
    {"llama3-instruct", t_llama3, STOPS("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")},
    {"magicoder", t_magicoder, STOPS("@@ Instruction", "@@ Response")},
    {"mistral-instruct", t_mistral, STOPS("<|im_start|>", "<|im_end|>")},
    {"openchat", t_openchat, STOPS("<|end_of_turn|>")},
    {"phi-3", t_phi3, STOPS("<|end|>", "<|system|>", "<|user|>", "<|assistant|>")},
    {"solar-instruct", t_solar, STOPS("### System:", "### User:", "### Assistant")},
    {"starcoder2-instruct", t_starcoder2,
     STOPS("### Instruction", "### Response", "<|endoftext|>")},
    {"vicuna", t_vicuna, STOPS("USER:", "ASSISTANT:")},
    {"zephyr", t_zephyr, STOPS("<|system|>", "</s>", "<|user|>", "<|assistant|>")},
};

int tmpl_family_count(void) { return (int)OL_ARRAY_LEN(families); }

const struct tmpl_family *tmpl_family_at(int i) {
    return i >= 0 && i < tmpl_family_count() ? &families[i] : NULL;
}

const struct tmpl_family *tmpl_family_find(const char *name) {
    if (!name) return NULL;
    for (int i = 0; i < tmpl_family_count(); i++)
        if (strcmp(families[i].name, name) == 0) return &families[i];
    return NULL;
}

static bool has(const char *s, size_t len, const char *needle) {
    return memmem(s, len, needle, strlen(needle)) != NULL;
}

/* Ordered rules: each family's most distinctive markers first, generic ones last. Checked
 * against every entry of Ollama's index.json and templates.jsonl by the tests. */
static const char *detect_name(const char *t, size_t n) {
    if (has(t, n, "<|START_OF_TURN_TOKEN|>")) return "command-r";
    if (has(t, n, "<|start_header_id|>")) return "llama3-instruct";
    if (has(t, n, "<start_of_turn>"))
        return has(t, n, "System role not supported") ? "gemma-instruct" : "gemma3-instruct";
    if (has(t, n, "<|im_start|>")) return "chatml";
    if (has(t, n, "GPT4 Correct")) return "openchat";
    bool user_tag = has(t, n, "<|user|>") || has(t, n, "<|assistant|>");
    if (user_tag && has(t, n, "<|end|>")) return "phi-3";
    if (user_tag) return "zephyr";
    if (has(t, n, "<<SYS>>")) return "llama2-chat";
    if ((has(t, n, "Source:") && has(t, n, "Destination:")) || has(t, n, "<step>"))
        return "codellama-70b-instruct";
    if (has(t, n, "[INST]")) return "mistral-instruct";
    if (has(t, n, "@@ Instruction")) return "magicoder";
    if (has(t, n, "### Instruction:")) return "alpaca";
    if (has(t, n, "### Instruction")) return "starcoder2-instruct";
    if (has(t, n, "<start_user>") || has(t, n, "<start_assistant>")) return "alfred";
    if (has(t, n, "### User:") || has(t, n, "### Assistant:")) return "solar-instruct";
    if (has(t, n, "Falcon:")) return "falcon-instruct";
    if (has(t, n, "Question:") && has(t, n, "Answer:")) return "granite-instruct";
    if (has(t, n, "User: ") && has(t, n, "Assistant:")) return "chatqa";
    if (has(t, n, "USER:") && has(t, n, "ASSISTANT:")) return "vicuna";
    return NULL;
}

const struct tmpl_family *tmpl_family_detect(const char *jinja, size_t len) {
    if (!jinja || len == 0) return NULL;
    return tmpl_family_find(detect_name(jinja, len));
}
