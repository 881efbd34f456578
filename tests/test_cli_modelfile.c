/* The client-side Modelfile parser (modelfile.md): every error message, quoting rules, line
 * counting, BOMs, PARAMETER conversion and the /api/create body built from it. */
#include "cli/modelfile.c"

#include <jansson.h>
#include <unistd.h>

#include "check.h"

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *check_sa_ = (a), *check_sb_ = (b);                                             \
        check_count++;                                                                             \
        if (!check_sa_ || strcmp(check_sa_, check_sb_) != 0) {                                     \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK_STR(%s, %s) failed:\n  got  \"%s\"\n  want \"%s\"\n",    \
                    __FILE__, __LINE__, #a, #b, check_sa_ ? check_sa_ : "(null)", check_sb_);      \
        }                                                                                          \
    } while (0)

#define CMD_ERR                                                                                    \
    "command must be one of \"from\", \"license\", \"template\", \"system\", \"adapter\", "        \
    "\"draft\", \"renderer\", \"parser\", \"parameter\", \"message\", or \"requires\""

static int parse(const char *text, struct cli_modelfile *mf, struct ol_err *err) {
    memset(err, 0, sizeof(*err));
    return cli_modelfile_parse(text, strlen(text), mf, err);
}

static void expect_error(const char *text, const char *msg) {
    struct cli_modelfile mf;
    struct ol_err err;
    CHECK(parse(text, &mf, &err) < 0);
    CHECK_STR(err.msg, msg);
    CHECK_EQ(mf.n_cmds, 0);
}

static void test_basic(void) {
    struct cli_modelfile mf;
    struct ol_err err;
    const char *text = "# comment\n"
                       "FROM llama3.2\n"
                       "  # indented comment\n"
                       "\n"
                       "parameter temperature 1\n"
                       "PARAMETER stop \"<|eot_id|>\"\n"
                       "PARAMETER stop <|start_header_id|>\n"
                       "SYSTEM You are Mario # not a comment\n"
                       "MESSAGE user Is Toronto in Canada?\n"
                       "MESSAGE assistant yes\n"
                       "License\tMIT  \n"
                       "TEMPLATE \"\"\"{{ .System }}\n"
                       "\"quoted\" {{ .Prompt }}\"\"\"\n"
                       "REQUIRES 0.14.0";
    CHECK_EQ(parse(text, &mf, &err), 0);
    CHECK_EQ(mf.n_cmds, 10);
    if (mf.n_cmds != 10) return;
    CHECK_EQ(mf.cmds[0].kind, CLI_MF_FROM);
    CHECK_STR(mf.cmds[0].args, "llama3.2");
    CHECK_EQ(mf.cmds[1].kind, CLI_MF_PARAMETER);
    CHECK_STR(mf.cmds[1].name, "temperature");
    CHECK_STR(mf.cmds[1].args, "1");
    CHECK_STR(mf.cmds[2].args, "<|eot_id|>");
    CHECK_STR(mf.cmds[3].args, "<|start_header_id|>");
    CHECK_STR(mf.cmds[4].args, "You are Mario # not a comment");
    CHECK_EQ(mf.cmds[5].kind, CLI_MF_MESSAGE);
    CHECK_STR(mf.cmds[5].name, "user");
    CHECK_STR(mf.cmds[5].args, "Is Toronto in Canada?");
    CHECK_STR(mf.cmds[6].name, "assistant");
    CHECK_EQ(mf.cmds[7].kind, CLI_MF_LICENSE);
    CHECK_STR(mf.cmds[7].args, "MIT");
    CHECK_EQ(mf.cmds[8].kind, CLI_MF_TEMPLATE);
    CHECK_STR(mf.cmds[8].args, "{{ .System }}\n\"quoted\" {{ .Prompt }}");
    CHECK_EQ(mf.cmds[9].kind, CLI_MF_REQUIRES);
    cli_modelfile_free(&mf);
}

static void test_quotes(void) {
    struct cli_modelfile mf;
    struct ol_err err;
    /* a double-quoted value may span lines; no escapes are processed */
    CHECK_EQ(parse("FROM x\nSYSTEM \"line one\nline \\n two\"\n", &mf, &err), 0);
    CHECK_STR(mf.cmds[1].args, "line one\nline \\n two");
    cli_modelfile_free(&mf);
    /* single quotes are not special */
    CHECK_EQ(parse("FROM x\nSYSTEM 'hi'\n", &mf, &err), 0);
    CHECK_STR(mf.cmds[1].args, "'hi'");
    cli_modelfile_free(&mf);
    /* """ on one line */
    CHECK_EQ(parse("FROM x\nSYSTEM \"\"\"a \"b\" c\"\"\"\n", &mf, &err), 0);
    CHECK_STR(mf.cmds[1].args, "a \"b\" c");
    cli_modelfile_free(&mf);
    /* surrounding whitespace is trimmed, inside quotes kept */
    CHECK_EQ(parse("FROM x\nSYSTEM   \"  padded \"   \n", &mf, &err), 0);
    CHECK_STR(mf.cmds[1].args, "  padded ");
    cli_modelfile_free(&mf);
    /* CR line endings */
    CHECK_EQ(parse("FROM x\rSYSTEM y\r", &mf, &err), 0);
    CHECK_EQ(mf.n_cmds, 2);
    CHECK_STR(mf.cmds[1].args, "y");
    cli_modelfile_free(&mf);
    /* non-printable characters are dropped */
    CHECK_EQ(parse("FROM x\nSYSTEM a\x01"
                   "b\x7f"
                   "c\n",
                   &mf, &err),
             0);
    CHECK_STR(mf.cmds[1].args, "abc");
    cli_modelfile_free(&mf);
    /* keywords are case-insensitive */
    CHECK_EQ(parse("from x\nsYsTeM s\n", &mf, &err), 0);
    CHECK_EQ(mf.cmds[1].kind, CLI_MF_SYSTEM);
    cli_modelfile_free(&mf);
    /* UTF-8 BOM, UTF-16LE BOM */
    CHECK_EQ(parse("\xef\xbb\xbf"
                   "FROM x\n",
                   &mf, &err),
             0);
    CHECK_STR(mf.cmds[0].args, "x");
    cli_modelfile_free(&mf);
    const char u16[] = "\xff\xfe"
                       "F\0R\0O\0M\0 \0y\0\n\0";
    memset(&err, 0, sizeof(err));
    CHECK_EQ(cli_modelfile_parse(u16, sizeof(u16) - 1, &mf, &err), 0);
    CHECK_EQ(mf.n_cmds, 1);
    if (mf.n_cmds) CHECK_STR(mf.cmds[0].args, "y");
    cli_modelfile_free(&mf);
}

static void test_errors(void) {
    expect_error("FROM x\nBADCMD y\n", "(line 2): " CMD_ERR);
    expect_error("FROM x\nEMBED y\n", "(line 2): " CMD_ERR);
    expect_error("FROM x\nFR0M y\n", "(line 2): " CMD_ERR);
    /* a keyword alone on its line: the newline was already counted */
    expect_error("FROM x\nSYSTEM\n", "(line 3): " CMD_ERR);
    expect_error("FROM x\nMESSAGE bot hi\n",
                 "(line 2): message role must be one of \"system\", \"user\", or \"assistant\"");
    expect_error("FROM x\nMESSAGE User hi\n",
                 "(line 2): message role must be one of \"system\", \"user\", or \"assistant\"");
    expect_error("SYSTEM hi\n", "no FROM line");
    expect_error("", "no FROM line");
    expect_error("# only a comment", "no FROM line");
    expect_error("FROM x\nSYSTEM \"unclosed\n", "unexpected EOF");
    expect_error("FROM x\nSYSTEM \"\"\"unclosed\"\n", "unexpected EOF");
    expect_error("FROM x\nPARAMETER", "unexpected EOF");
    expect_error("FROM x\nPARAMETER temp-erature 1\n", "unexpected EOF: temp");
}

static void test_params(void) {
    char *json = NULL;
    struct ol_err err = {0};
    const char *v1[] = {"4096"};
    CHECK_EQ(cli_param_format("num_ctx", v1, 1, &json, &err), 0);
    CHECK_STR(json, "4096");
    free(json);
    const char *v2[] = {"0.7"};
    CHECK_EQ(cli_param_format("temperature", v2, 1, &json, &err), 0);
    CHECK_STR(json, "0.7");
    free(json);
    const char *v3[] = {"a", "b c"};
    CHECK_EQ(cli_param_format("stop", v3, 2, &json, &err), 0);
    json_t *j = json_loads(json, 0, NULL);
    CHECK_EQ(json_array_size(j), 2);
    json_decref(j);
    free(json);
    const char *v4[] = {"True"};
    CHECK_EQ(cli_param_format("use_mmap", v4, 1, &json, &err), 0);
    CHECK_STR(json, "true");
    free(json);
    const char *bad[] = {"abc"};
    CHECK(cli_param_format("num_ctx", bad, 1, &json, &err) < 0);
    CHECK_STR(err.msg, "invalid int value [abc]");
    CHECK(cli_param_format("temperature", bad, 1, &json, &err) < 0);
    CHECK_STR(err.msg, "invalid float value [abc]");
    CHECK(cli_param_format("use_mmap", bad, 1, &json, &err) < 0);
    CHECK_STR(err.msg, "invalid bool value [abc]");
    CHECK(cli_param_format("nope", bad, 1, &json, &err) < 0);
    CHECK_STR(err.msg, "unknown parameter 'nope'");
    CHECK(cli_param_format("Temperature", v2, 1, &json, &err) < 0); /* case-sensitive */
    const char *one[] = {"1"};
    CHECK_EQ(cli_param_format("mirostat", one, 1, &json, &err), 1);
    CHECK(json == NULL);
}

static void test_request(void) {
    struct cli_modelfile mf;
    struct ol_err err;
    struct cli_create_req req;
    const char *text = "FROM llama3.2\n"
                       "PARAMETER temperature 1\n"
                       "PARAMETER num_ctx 4096\n"
                       "PARAMETER stop a\n"
                       "PARAMETER stop b\n"
                       "SYSTEM You are Mario\n"
                       "LICENSE one\n"
                       "LICENSE two\n"
                       "MESSAGE user hi\n";
    CHECK_EQ(parse(text, &mf, &err), 0);
    CHECK_EQ(cli_modelfile_request(&mf, ".", "mario", "q4_K_M", &req, &err), 0);
    cli_modelfile_free(&mf);
    json_t *j = json_loads(req.json ? req.json : "", 0, NULL);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "model")), "mario");
    CHECK_STR(json_string_value(json_object_get(j, "from")), "llama3.2");
    CHECK_STR(json_string_value(json_object_get(j, "system")), "You are Mario");
    CHECK_STR(json_string_value(json_object_get(j, "quantize")), "q4_K_M");
    json_t *p = json_object_get(j, "parameters");
    CHECK_EQ(json_integer_value(json_object_get(p, "num_ctx")), 4096);
    CHECK_NEAR(json_number_value(json_object_get(p, "temperature")), 1.0, 1e-9);
    CHECK_EQ(json_array_size(json_object_get(p, "stop")), 2);
    CHECK_EQ(json_array_size(json_object_get(j, "license")), 2);
    json_t *m = json_array_get(json_object_get(j, "messages"), 0);
    CHECK_STR(json_string_value(json_object_get(m, "role")), "user");
    CHECK_STR(json_string_value(json_object_get(m, "content")), "hi");
    CHECK_EQ(req.n_files, 0);
    json_decref(j);
    cli_create_req_free(&req);

    /* FROM an existing file (relative to the Modelfile's directory): hashed, sent by name */
    char tmpl[] = "/tmp/test_cli_mfXXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    if (!dir) return;
    char path[256];
    snprintf(path, sizeof(path), "%s/model.gguf", dir);
    FILE *f = fopen(path, "wb");
    fputs("abc", f);
    fclose(f);
    CHECK_EQ(parse("FROM ./model.gguf\nPARAMETER bogus 1\n", &mf, &err), 0);
    CHECK(cli_modelfile_request(&mf, dir, "m", NULL, &req, &err) < 0);
    CHECK_STR(err.msg, "unknown parameter 'bogus'");
    cli_create_req_free(&req);
    cli_modelfile_free(&mf);
    CHECK_EQ(parse("FROM ./model.gguf\nREQUIRES v0.14.0\n", &mf, &err), 0);
    CHECK_EQ(cli_modelfile_request(&mf, dir, "m", NULL, &req, &err), 0);
    cli_modelfile_free(&mf);
    CHECK_EQ(req.n_files, 1);
    if (req.n_files == 1) {
        CHECK_STR(req.files[0].name, "model.gguf");
        CHECK_STR(req.files[0].digest,
                  "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
    j = json_loads(req.json ? req.json : "", 0, NULL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "files"), "model.gguf")),
              "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(json_object_get(j, "from") == NULL);
    CHECK_STR(json_string_value(json_object_get(j, "requires")), "0.14.0");
    json_decref(j);
    cli_create_req_free(&req);
    CHECK_EQ(parse("FROM x\nREQUIRES soon\n", &mf, &err), 0);
    CHECK(cli_modelfile_request(&mf, dir, "m", NULL, &req, &err) < 0);
    CHECK_STR(err.msg, "requires must be a valid semver (e.g. 0.14.0)");
    cli_create_req_free(&req);
    cli_modelfile_free(&mf);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    test_basic();
    test_quotes();
    test_errors();
    test_params();
    test_request();
    return check_exit("test_cli_modelfile");
}
