// Chat template tests: every render of ../shared/golden/chat/chat.json (transformers 4.50 +
// jinja2), the spec §6.3 prompts, the checkpoint files, and Jinja semantics of the supported subset
// (expected strings follow the jinja2 documentation), plus the errors for unsupported constructs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

#include "model/chat_template.h"
#include "tests/test_support.h"

namespace smolvid::model {
namespace {

using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  return json::parse(in);
}

std::string render(const std::string& tmpl, const json& context) { return ChatTemplate(tmpl).render_context(context); }

std::string error_of(const std::string& tmpl, const json& context = json::object()) {
  try {
    ChatTemplate(tmpl).render_context(context);
  } catch (const ChatTemplateError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ChatTemplateGolden, EveryRenderOfBothTemplates) {
  const json fixture = read_json(test::golden("chat/chat.json"));
  const bool add_generation_prompt = fixture.at("add_generation_prompt");
  int checked = 0;
  for (const auto& [model, renders] : fixture.at("renders").items()) {
    const ChatTemplate tmpl(fixture.at("templates").at(model).at("template").get<std::string>());
    for (const auto& [name, c] : renders.items()) {
      EXPECT_EQ(tmpl.render(c.at("messages"), add_generation_prompt), c.at("prompt").get<std::string>())
          << model << " / " << name;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 18);
}

TEST(ChatTemplateGolden, CheckpointFilesHoldTheFixtureTemplates) {
  const json fixture = read_json(test::golden("chat/chat.json"));
  const std::string hub = fixture.at("templates").at("SmolVLM-256M-Instruct").at("template");
  EXPECT_EQ(ChatTemplate::from_dir(test::reference("configs/SmolVLM-256M-Instruct")).source(), hub);
  EXPECT_EQ(ChatTemplate::from_dir(test::reference("configs/SmolVLM2-256M-Video-Instruct/reconstructed")).source(),
            fixture.at("templates").at("SmolVLM2-256M-Video-Instruct").at("template").get<std::string>());
  for (const char* tiny : {"tiny-smolvlm", "tiny-idefics3"}) {
    EXPECT_EQ(ChatTemplate::from_dir(test::golden(tiny)).source(), hub) << tiny;
  }
}

// spec §6.3 (rendered with Jinja2, transformers' flags).
TEST(ChatTemplateGolden, SpecPrompts) {
  const json fixture = read_json(test::golden("chat/chat.json"));
  const ChatTemplate hub(fixture.at("templates").at("SmolVLM-256M-Instruct").at("template").get<std::string>());
  const json text_only = json::parse(R"([{"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]}])");
  EXPECT_EQ(hub.render(text_only, true), "<|im_start|>User: What is 2+2?<end_of_utterance>\nAssistant:");
  EXPECT_EQ(hub.render(text_only, false), "<|im_start|>User: What is 2+2?<end_of_utterance>\n");
  const json multi = json::parse(R"([
    {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
    {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "image"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "Hello."}]},
    {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Compare."}]}])");
  EXPECT_EQ(hub.render(multi, true),
            "<|im_start|>System: Be brief.<end_of_utterance>\nUser: Hi<image><end_of_utterance>\nAssistant: "
            "Hello.<end_of_utterance>\nUser:<image><image>Compare.<end_of_utterance>\nAssistant:");
  const json video = json::parse(
      R"([{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Describe this video in detail"}]}])");
  EXPECT_EQ(ChatTemplate(kSmolVLMVideoChatTemplate).render(video, true),
            "<|im_start|>User: <video>Describe this video in detail<end_of_utterance>\nAssistant:");
}

TEST(ChatTemplateJinja, WhitespaceControlTrimAndLstripBlocks) {
  const json ctx = {{"xs", {1, 2}}};
  // trim_blocks drops the newline after a block tag; lstrip_blocks the indentation before one.
  EXPECT_EQ(render("{% for x in xs %}\n  {{ x }}\n  {% endfor %}\nend", ctx), "  1\n  2\nend");
  EXPECT_EQ(render("a  {%- if true -%}  b  {%- endif -%}  c", ctx), "abc");
  EXPECT_EQ(render("a {{- 'b' -}} c", ctx), "abc");
  EXPECT_EQ(render("  {%+ if true %}x{% endif %}", ctx), "  x");  // '+' disables lstrip_blocks
  EXPECT_EQ(render("a {# note #}\nb", ctx), "a b");               // comments are blocks for trimming
  EXPECT_EQ(render("line\n", ctx), "line");                       // one trailing newline is dropped
  ChatTemplateOptions keep;
  keep.keep_trailing_newline = true;
  keep.trim_blocks = false;
  keep.lstrip_blocks = false;
  EXPECT_EQ(ChatTemplate("{% if true %}\n x{% endif %}\n", "t", keep).render_context(ctx), "\n x\n");
}

TEST(ChatTemplateJinja, LoopsConditionsAndVariables) {
  const json ctx = {{"xs", {"a", "b", "c"}}, {"d", {{"k", 1}}}, {"n", 5}};
  EXPECT_EQ(render("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ x }}"
                   "{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %},{% endfor %}",
                   ctx),
            "103aF,212b,321cL,");
  EXPECT_EQ(render("{% for x in xs if x != 'b' %}{{ x }}{{ loop.length }}{% endfor %}", ctx), "a2c2");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}", ctx), "empty");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }}{% endfor %}", ctx), "k=1");
  EXPECT_EQ(render("{% if n > 9 %}big{% elif n >= 5 %}mid{% else %}small{% endif %}", ctx), "mid");
  EXPECT_EQ(render("{% set ns = namespace(c=0) %}{% for x in xs %}{% set ns.c = ns.c + 1 %}{% endfor %}{{ ns.c }}", ctx),
            "3");
  // A plain set inside a loop does not leak out of it.
  EXPECT_EQ(render("{% set c = 0 %}{% for x in xs %}{% set c = c + 1 %}{% endfor %}{{ c }}", ctx), "0");
  EXPECT_EQ(render("{{ xs[0] ~ xs[-1] }}{{ xs[1:] | join('-') }}{{ 'b' in xs }}{{ 'z' not in xs }}", ctx), "acb-cTrueTrue");
  EXPECT_EQ(render("{{ d.k + 1 }} {{ d['k'] * 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ 7 / 2 }}", ctx),
            "2 2 3 -4 1 3.5");
  EXPECT_EQ(render("{{ 'yes' if n == 5 else 'no' }}{{ missing }}{{ missing is defined }}{{ none is none }}", ctx),
            "yesFalseTrue");
  EXPECT_EQ(render("{{ [1, 'a', none, true] }}{{ {'k': 'v'} }}", ctx), "[1, 'a', None, True]{'k': 'v'}");
}

TEST(ChatTemplateJinja, FiltersAndMethods) {
  const json ctx = {{"s", "  hello World  "}, {"r", "assistant"}};
  EXPECT_EQ(render("{{ r | capitalize }}|{{ s | trim }}|{{ s | upper | trim }}|{{ s | length }}", ctx),
            "Assistant|hello World|HELLO WORLD|15");
  EXPECT_EQ(render("{{ s.strip() }}|{{ r.startswith('ass') }}|{{ r.replace('s', 'z') }}|{{ 'a,b'.split(',') }}", ctx),
            "hello World|True|azziztant|['a', 'b']");
  EXPECT_EQ(render("{{ missing | default('dflt') }}|{{ '' | default('e', true) }}|{{ r | title }}", ctx),
            "dflt|e|Assistant");
  EXPECT_EQ(render("{{ {'a': [1, 2]} | tojson }}", ctx), "{\"a\": [1, 2]}");
  EXPECT_EQ(render("{{ 'ü' ~ 'é'[0] }}{{ 'héllo'[1] }}{{ 'héllo' | length }}", ctx), "üéé5");
}

TEST(ChatTemplateJinja, ReprAndSplitOfControlCharactersFollowPython) {
  // Expected strings: jinja2 3.1 (Python 3.11) rendering the same templates. Printed as text, every
  // character stays; repr escapes the non-printable ones; split() cuts at Python's whitespace.
  const json ctx = {{"x", "a\x01" "b\x1c" "c\u2028" "d\te\x7f\u0085\U000E0001"}};
  EXPECT_EQ(render("{{ x }}", ctx), ctx["x"].get<std::string>());
  EXPECT_EQ(render("{{ [x] }}|{{ x.split() }}|{{ x.split() | length }}", ctx),
            "['a\\x01b\\x1cc\\u2028d\\te\\x7f\\x85\\U000e0001']|['a\\x01b', 'c', 'd', 'e\\x7f', '\\U000e0001']|5");
  EXPECT_EQ(render("{{ ['\\u00e9\\u00a0\\'q'] }}", ctx), "[\"\u00e9\\xa0'q\"]");
}

TEST(ChatTemplateJinja, OrderedInputKeepsPythonDictOrder) {
  const nlohmann::ordered_json ctx = nlohmann::ordered_json::parse(R"({"d": {"type": "text", "text": "hi"}})");
  EXPECT_EQ(ChatTemplate("{{ d }}|{% for k, v in d.items() %}{{ k }}{% endfor %}|{{ d | tojson }}").render_context(ctx),
            "{'type': 'text', 'text': 'hi'}|typetext|{\"type\": \"text\", \"text\": \"hi\"}");
}

TEST(ChatTemplateJinja, PlainStringContentFollowsJinjaSemantics) {
  // message['content'][0] is the first character; indexing it with 'type' is undefined.
  const json fixture = read_json(test::golden("chat/chat.json"));
  const ChatTemplate hub(fixture.at("templates").at("SmolVLM-256M-Instruct").at("template").get<std::string>());
  EXPECT_EQ(hub.render(json::parse(R"([{"role": "user", "content": "Hi"}])"), false), "<|im_start|>User: <end_of_utterance>\n");
}

TEST(ChatTemplateErrors, NameTheConstructAndPosition) {
  EXPECT_NE(error_of("ab\n{% macro f() %}{% endmacro %}").find("unsupported statement '{% macro %}' (supported: if, elif, "
                                                               "else, for, set) (line 2, column 1)"),
            std::string::npos)
      << error_of("ab\n{% macro f() %}{% endmacro %}");
  EXPECT_NE(error_of("{{ x | wordcount }}").find("unsupported filter 'wordcount' (line 1, column 6)"), std::string::npos)
      << error_of("{{ x | wordcount }}");
  EXPECT_NE(error_of("{% if x %}a").find("missing '{% endif %}'"), std::string::npos) << error_of("{% if x %}a");
  EXPECT_NE(error_of("{{ x ").find("unclosed expression"), std::string::npos);
  EXPECT_NE(error_of("{{ x.y }}").find("cannot read attribute 'y' of an undefined value"), std::string::npos);
  EXPECT_NE(error_of("{{ raise_exception('bad role') }}").find("bad role"), std::string::npos);
  EXPECT_NE(error_of("{{ cycler() }}").find("unsupported function 'cycler'"), std::string::npos);
  EXPECT_NE(error_of("{% endfor %}").find("without a matching"), std::string::npos);
  EXPECT_THROW(ChatTemplate::from_dir("/nonexistent"), ChatTemplateError);
  EXPECT_THROW(ChatTemplate("x").render(json::object(), true), ChatTemplateError);
}

}  // namespace
}  // namespace smolvid::model
