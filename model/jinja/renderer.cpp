// Jinja renderer (see renderer.h).
#include "model/jinja/renderer.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "model/jinja/value.h"

namespace smolvid::model::jinja {
namespace {

class Renderer {
 public:
  Renderer(SourceRef ref, const json& context, const Options& limits) : ref_(ref), limits_(limits) {
    scopes_.emplace_back();
    if (!context.is_object()) throw TemplateError(fmt::format("{}: the render context must be a JSON object", *ref.name));
    for (const auto& [k, v] : context.items()) scopes_.back()[k] = Value(v);
  }

  void render(const std::vector<Node>& nodes, std::string& out) {
    for (const Node& n : nodes) {
      render_node(n, out);
      if (out.size() > limits_.max_output_bytes) {
        fail(n.pos, fmt::format("output exceeds the budget of {} bytes (ChatTemplateOptions::max_output_bytes)",
                                limits_.max_output_bytes));
      }
    }
  }

 private:
  // Charges `cost` steps; throws once the render has used more than max_steps.
  void spend(size_t pos, size_t cost = 1) {
    steps_ += cost;
    if (steps_ > limits_.max_steps) {
      fail(pos, fmt::format("render exceeds the budget of {} steps (ChatTemplateOptions::max_steps): a runaway loop?",
                            limits_.max_steps));
    }
  }
  // What a newly built value costs: one step per JSON node (so doubling a list in a loop runs out of
  // budget long before memory), and strings are capped at max_output_bytes.
  void charge_value(const Value& v, size_t pos) {
    if (v.undefined) return;
    if (v.j.is_string()) {
      if (v.j.get_ref<const std::string&>().size() > limits_.max_output_bytes) {
        fail(pos, fmt::format("a string value exceeds the budget of {} bytes (ChatTemplateOptions::max_output_bytes)",
                              limits_.max_output_bytes));
      }
      return;
    }
    if (!v.j.is_structured()) return;
    std::vector<const json*> stack{&v.j};
    while (!stack.empty()) {
      const json* j = stack.back();
      stack.pop_back();
      spend(pos);
      if (j->is_structured()) {
        for (const json& x : *j) stack.push_back(&x);
      }
    }
  }
  // a op b on int64 with Python's result or an error where Python would need a big integer.
  int64_t checked(bool overflow, int64_t value, size_t pos) const {
    if (overflow) fail(pos, "integer overflow (values beyond 64 bits are not supported)");
    return value;
  }

  using Scope = std::unordered_map<std::string, Value>;

  [[noreturn]] void fail(size_t pos, const std::string& what) const { ref_.fail(pos, what); }

  void render_node(const Node& n, std::string& out) {
    spend(n.pos);
    switch (n.kind) {
      case Node::Kind::kText: out += n.text; return;
      case Node::Kind::kOutput: out += to_str(eval(*n.expr)); return;
      case Node::Kind::kIf:
        for (const auto& [cond, body] : n.branches) {
          if (truthy(eval(*cond))) {
            render(body, out);
            return;
          }
        }
        render(n.else_body, out);
        return;
      case Node::Kind::kFor: render_for(n, out); return;
      case Node::Kind::kSet: {
        Value v = eval(*n.expr);
        if (n.set_attr.empty()) {
          scopes_.back()[n.set_name] = std::move(v);
          return;
        }
        Value* target = lookup_ref(n.set_name);
        if (!target || target->undefined || !target->j.is_object()) {
          fail(n.pos, fmt::format("cannot assign attribute '{}' of '{}' (not a namespace)", n.set_attr, n.set_name));
        }
        target->j[n.set_attr] = v.undefined ? json() : v.j;
        return;
      }
    }
  }

  void render_for(const Node& n, std::string& out) {
    const Value seq = eval(*n.expr);
    std::vector<json> items;
    if (seq.undefined) {
      // jinja2's Undefined iterates as empty.
    } else if (seq.j.is_array()) {
      items.assign(seq.j.begin(), seq.j.end());
    } else if (seq.j.is_object()) {
      for (const auto& [k, v] : seq.j.items()) items.emplace_back(k);
    } else if (seq.j.is_string()) {
      for (std::string& c : code_points(seq.j.get<std::string>())) items.emplace_back(std::move(c));
    } else {
      fail(n.expr->pos, fmt::format("cannot iterate over a value of type {}", type_name(seq)));
    }
    scopes_.emplace_back();
    auto bind = [&](const json& item) {
      if (n.targets.size() == 1) {
        scopes_.back()[n.targets[0]] = Value(item);
        return;
      }
      if (!item.is_array() || item.size() != n.targets.size()) {
        fail(n.pos, fmt::format("cannot unpack {} into {} loop variables", python_repr(item), n.targets.size()));
      }
      for (size_t t = 0; t < n.targets.size(); ++t) scopes_.back()[n.targets[t]] = Value(item[t]);
    };
    if (n.filter) {
      std::vector<json> kept;
      for (const json& item : items) {
        bind(item);
        if (truthy(eval(*n.filter))) kept.push_back(item);
      }
      items.swap(kept);
    }
    const size_t len = items.size();
    for (size_t i = 0; i < len; ++i) {
      spend(n.pos);
      scopes_.back().clear();
      bind(items[i]);
      json loop = {{"index", i + 1},
                   {"index0", i},
                   {"revindex", len - i},
                   {"revindex0", len - i - 1},
                   {"first", i == 0},
                   {"last", i + 1 == len},
                   {"length", len}};
      if (i > 0) loop["previtem"] = items[i - 1];
      if (i + 1 < len) loop["nextitem"] = items[i + 1];
      scopes_.back()["loop"] = Value(std::move(loop));
      render(n.body, out);
    }
    scopes_.pop_back();
    if (len == 0) render(n.else_body, out);
  }

  Value* lookup_ref(const std::string& name) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      const auto f = it->find(name);
      if (f != it->end()) return &f->second;
    }
    return nullptr;
  }

  static int64_t py_index(int64_t i, size_t size) { return i < 0 ? i + static_cast<int64_t>(size) : i; }

  Value get_item(const Value& obj, const Value& key, size_t pos) {
    if (obj.undefined) fail(pos, "cannot index an undefined value");
    if (key.undefined) return Value::undef();
    if (obj.j.is_object()) {
      if (!key.j.is_string()) return Value::undef();
      const auto it = obj.j.find(key.j.get<std::string>());
      return it == obj.j.end() ? Value::undef() : Value(*it);
    }
    if ((obj.j.is_array() || obj.j.is_string()) && key.j.is_number_integer()) {
      if (obj.j.is_array()) {
        const int64_t i = py_index(key.j.get<int64_t>(), obj.j.size());
        if (i < 0 || i >= static_cast<int64_t>(obj.j.size())) return Value::undef();
        return Value(obj.j[static_cast<size_t>(i)]);
      }
      const std::vector<std::string> cps = code_points(obj.j.get<std::string>());
      const int64_t i = py_index(key.j.get<int64_t>(), cps.size());
      if (i < 0 || i >= static_cast<int64_t>(cps.size())) return Value::undef();
      return Value(json(cps[static_cast<size_t>(i)]));
    }
    return Value::undef();  // e.g. "text"['type']: jinja2 returns undefined
  }

  Value slice(const Value& obj, const Expr& e) {
    if (obj.undefined) fail(e.pos, "cannot slice an undefined value");
    auto bound = [&](const ExprPtr& p) -> std::optional<int64_t> {
      if (!p) return std::nullopt;
      const Value v = eval(*p);
      if (v.undefined || v.j.is_null()) return std::nullopt;
      if (!v.j.is_number_integer()) fail(p->pos, "slice bounds must be integers");
      return v.j.get<int64_t>();
    };
    const auto start = bound(e.args[1]), stop = bound(e.args[2]), step_opt = bound(e.args[3]);
    const int64_t step = step_opt.value_or(1);
    if (step == 0) fail(e.pos, "slice step cannot be zero");
    std::vector<json> elems;
    const bool is_string = obj.j.is_string();
    if (is_string) {
      for (std::string& c : code_points(obj.j.get<std::string>())) elems.emplace_back(std::move(c));
    } else if (obj.j.is_array()) {
      elems.assign(obj.j.begin(), obj.j.end());
    } else {
      fail(e.pos, fmt::format("cannot slice a value of type {}", type_name(obj)));
    }
    const auto n = static_cast<int64_t>(elems.size());
    auto clamp = [&](std::optional<int64_t> v, int64_t def) {
      if (!v) return def;
      int64_t x = *v < 0 ? *v + n : *v;
      if (step > 0) return std::clamp<int64_t>(x, 0, n);
      return std::clamp<int64_t>(x, -1, n - 1);
    };
    const int64_t b = clamp(start, step > 0 ? 0 : n - 1);
    const int64_t s = clamp(stop, step > 0 ? n : -1);
    json out_list = json::array();
    std::string out_str;
    for (int64_t i = b; step > 0 ? i < s : i > s;) {
      spend(e.pos);
      if (is_string) {
        out_str += elems[static_cast<size_t>(i)].get<std::string>();
      } else {
        out_list.push_back(elems[static_cast<size_t>(i)]);
      }
      if (__builtin_add_overflow(i, step, &i)) break;  // a huge step leaves the range at once
    }
    return is_string ? Value(json(out_str)) : Value(out_list);
  }

  static bool values_equal(const Value& a, const Value& b) {
    if (a.undefined || b.undefined) return a.undefined && b.undefined;
    return a.j == b.j;
  }

  Value compare(const std::string& op, const Value& a, const Value& b, size_t pos) {
    if (op == "==") return Value(values_equal(a, b));
    if (op == "!=") return Value(!values_equal(a, b));
    if (op == "in" || op == "not in") {
      bool found = false;
      if (b.undefined) {
        found = false;
      } else if (b.j.is_string()) {
        if (a.undefined || !a.j.is_string()) fail(pos, fmt::format("'in <string>' requires a string, got {}", type_name(a)));
        found = b.j.get<std::string>().find(a.j.get<std::string>()) != std::string::npos;
      } else if (b.j.is_array()) {
        for (const json& x : b.j) found = found || (!a.undefined && x == a.j);
      } else if (b.j.is_object()) {
        found = !a.undefined && a.j.is_string() && b.j.contains(a.j.get<std::string>());
      } else {
        fail(pos, fmt::format("'in' needs a string, list or dict on the right, got {}", type_name(b)));
      }
      return Value(op == "in" ? found : !found);
    }
    const bool numbers = !a.undefined && !b.undefined && a.j.is_number() && b.j.is_number();
    const bool strings = !a.undefined && !b.undefined && a.j.is_string() && b.j.is_string();
    if (!numbers && !strings) {
      fail(pos, fmt::format("'{}' not supported between {} and {}", op, type_name(a), type_name(b)));
    }
    int c = 0;
    if (numbers) {
      const double x = a.j.get<double>(), y = b.j.get<double>();
      c = x < y ? -1 : (x > y ? 1 : 0);
    } else {
      c = a.j.get<std::string>().compare(b.j.get<std::string>());
    }
    if (op == "<") return Value(c < 0);
    if (op == ">") return Value(c > 0);
    if (op == "<=") return Value(c <= 0);
    return Value(c >= 0);
  }

  Value arithmetic(const std::string& op, const Value& a, const Value& b, size_t pos) {
    if (op == "~") return Value(json(to_str(a) + to_str(b)));
    if (!a.undefined && !b.undefined) {
      if (op == "+" && a.j.is_string() && b.j.is_string()) return Value(json(a.j.get<std::string>() + b.j.get<std::string>()));
      if (op == "+" && a.j.is_array() && b.j.is_array()) {
        json out = a.j;
        for (const json& x : b.j) out.push_back(x);
        return Value(out);
      }
      if (op == "*" && a.j.is_string() && b.j.is_number_integer()) {
        const std::string& unit = a.j.get_ref<const std::string&>();
        const int64_t times = b.j.get<int64_t>();
        if (times > 0 && !unit.empty() && static_cast<uint64_t>(times) > limits_.max_output_bytes / unit.size()) {
          fail(pos, fmt::format("string repetition exceeds the budget of {} bytes (ChatTemplateOptions::max_output_bytes)",
                                limits_.max_output_bytes));
        }
        std::string out;
        for (int64_t i = 0; i < times; ++i) out += unit;
        return Value(json(out));
      }
      const bool ints = a.j.is_number_integer() && b.j.is_number_integer();
      if (a.j.is_number() && b.j.is_number() && !a.j.is_boolean() && !b.j.is_boolean()) {
        if (ints && op != "/" && op != "**") {
          const int64_t x = a.j.get<int64_t>(), y = b.j.get<int64_t>();
          if ((op == "//" || op == "%") && y == 0) fail(pos, "division by zero");
          int64_t r = 0;
          bool overflow = false;  // computed before checked() reads r (argument order is unspecified)
          if (op == "+" || op == "-" || op == "*") {
            overflow = op == "+"   ? __builtin_add_overflow(x, y, &r)
                       : op == "-" ? __builtin_sub_overflow(x, y, &r)
                                   : __builtin_mul_overflow(x, y, &r);
            return Value(json(checked(overflow, r, pos)));
          }
          checked(x == INT64_MIN && y == -1, 0, pos);
          const int64_t q = x / y - ((x % y != 0 && ((x < 0) != (y < 0))) ? 1 : 0);  // Python floor division
          if (op == "//") return Value(json(q));
          return Value(json(x - q * y));
        }
        const double x = a.j.get<double>(), y = b.j.get<double>();
        if ((op == "/" || op == "//" || op == "%") && y == 0) fail(pos, "division by zero");
        if (op == "+") return Value(json(x + y));
        if (op == "-") return Value(json(x - y));
        if (op == "*") return Value(json(x * y));
        if (op == "/") return Value(json(x / y));
        if (op == "//") return Value(json(std::floor(x / y)));
        if (op == "%") return Value(json(x - std::floor(x / y) * y));
        if (ints && y >= 0) {
          const double p = std::pow(x, y);
          checked(!(std::fabs(p) < 9.2e18), 0, pos);
          return Value(json(static_cast<int64_t>(std::llround(p))));
        }
        return Value(json(std::pow(x, y)));
      }
    }
    fail(pos, fmt::format("unsupported operand types for '{}': {} and {}", op, type_name(a), type_name(b)));
  }

  Value apply_filter(const Expr& e) {
    const std::string& f = e.name;
    const Value v = eval(*e.args[0]);
    std::vector<Value> args;
    for (size_t i = 1; i < e.args.size(); ++i) args.push_back(eval(*e.args[i]));
    auto kwarg = [&](const char* key) -> const ExprPtr* {
      for (const auto& [k, x] : e.kwargs) {
        if (k == key) return &x;
      }
      return nullptr;
    };
    if (f == "capitalize") return Value(json(py_capitalize(to_str(v))));
    if (f == "trim") return Value(json(strip_chars(to_str(v), args.empty() ? nullptr : &args[0], true, true)));
    if (f == "lower") return Value(json(ascii_lower(to_str(v))));
    if (f == "upper") return Value(json(ascii_upper(to_str(v))));
    if (f == "title") return Value(json(py_title(to_str(v))));
    if (f == "string") return Value(json(to_str(v)));
    if (f == "length" || f == "count") {
      if (v.undefined) return Value(json(0));
      if (v.j.is_string()) return Value(json(code_points(v.j.get<std::string>()).size()));
      if (v.j.is_array() || v.j.is_object()) return Value(json(v.j.size()));
      fail(e.pos, fmt::format("filter '{}' needs a string, list or dict, got {}", f, type_name(v)));
    }
    if (f == "join") {
      const std::string sep = args.empty() ? "" : to_str(args[0]);
      if (v.undefined) return Value(json(""));
      if (!v.j.is_array()) fail(e.pos, fmt::format("filter 'join' needs a list, got {}", type_name(v)));
      std::string out;
      for (size_t i = 0; i < v.j.size(); ++i) out += (i ? sep : "") + python_str(v.j[i]);
      return Value(json(out));
    }
    if (f == "first" || f == "last") {
      if (!v.undefined && v.j.is_array()) {
        if (v.j.empty()) return Value::undef();
        return Value(f == "first" ? v.j.front() : v.j.back());
      }
      if (!v.undefined && v.j.is_string()) {
        const auto cps = code_points(v.j.get<std::string>());
        if (cps.empty()) return Value::undef();
        return Value(json(f == "first" ? cps.front() : cps.back()));
      }
      fail(e.pos, fmt::format("filter '{}' needs a list or string, got {}", f, type_name(v)));
    }
    if (f == "default" || f == "d") {
      const bool boolean = args.size() > 1 ? truthy(args[1]) : (kwarg("boolean") && truthy(eval(**kwarg("boolean"))));
      const Value fallback = args.empty() ? Value(json("")) : args[0];
      if (v.undefined || (boolean && !truthy(v))) return fallback;
      return v;
    }
    if (f == "tojson") {
      if (v.undefined) fail(e.pos, "filter 'tojson' on an undefined value");
      int indent = -1;
      if (!args.empty() && args[0].j.is_number_integer()) indent = args[0].j.get<int>();
      if (const ExprPtr* k = kwarg("indent")) {
        const Value iv = eval(**k);
        if (!iv.undefined && iv.j.is_number_integer()) indent = iv.j.get<int>();
      }
      return Value(json(python_json_dumps(v.j, indent)));
    }
    if (f == "reverse") {
      if (!v.undefined && v.j.is_array()) return Value(json(std::vector<json>(v.j.rbegin(), v.j.rend())));
      if (!v.undefined && v.j.is_string()) {
        auto cps = code_points(v.j.get<std::string>());
        std::string out;
        for (auto it = cps.rbegin(); it != cps.rend(); ++it) out += *it;
        return Value(json(out));
      }
      fail(e.pos, fmt::format("filter 'reverse' needs a list or string, got {}", type_name(v)));
    }
    if (f == "list") {
      if (!v.undefined && v.j.is_array()) return v;
      if (!v.undefined && v.j.is_string()) {
        json out = json::array();
        for (std::string& c : code_points(v.j.get<std::string>())) out.push_back(std::move(c));
        return Value(out);
      }
      fail(e.pos, fmt::format("filter 'list' needs a list or string, got {}", type_name(v)));
    }
    if (f == "int" || f == "float") {
      double d = 0;
      if (!v.undefined && v.j.is_number()) {
        d = v.j.get<double>();
      } else if (!v.undefined && v.j.is_string()) {
        try {
          d = std::stod(v.j.get<std::string>());
        } catch (const std::exception&) {
          d = 0;
        }
      }
      if (f == "int") {
        if (!(std::fabs(d) < 9.2e18)) fail(e.pos, fmt::format("filter 'int': {} is not a 64-bit integer", d));
        return Value(json(static_cast<int64_t>(d)));
      }
      return Value(json(d));
    }
    fail(e.pos, fmt::format("unsupported filter '{}'", f));
  }

  Value apply_test(const Expr& e) {
    const std::string& t = e.name;
    const Value v = eval(*e.args[0]);
    bool r = false;
    const bool def = !v.undefined;
    if (t == "defined") {
      r = def;
    } else if (t == "undefined") {
      r = !def;
    } else if (t == "none") {
      r = def && v.j.is_null();
    } else if (t == "string") {
      r = def && v.j.is_string();
    } else if (t == "number") {
      r = def && v.j.is_number();
    } else if (t == "integer") {
      r = def && v.j.is_number_integer();
    } else if (t == "float") {
      r = def && v.j.is_number_float();
    } else if (t == "boolean") {
      r = def && v.j.is_boolean();
    } else if (t == "true") {
      r = def && v.j.is_boolean() && v.j.get<bool>();
    } else if (t == "false") {
      r = def && v.j.is_boolean() && !v.j.get<bool>();
    } else if (t == "mapping") {
      r = def && v.j.is_object();
    } else if (t == "iterable") {
      r = !def || v.j.is_array() || v.j.is_object() || v.j.is_string();
    } else if (t == "sequence") {
      r = def && (v.j.is_array() || v.j.is_object() || v.j.is_string());
    } else if (t == "eq" || t == "equalto" || t == "==" || t == "ne" || t == "!=") {
      if (e.args.size() != 2) fail(e.pos, fmt::format("test '{}' needs one argument", t));
      r = values_equal(v, eval(*e.args[1]));
      if (t == "ne" || t == "!=") r = !r;
    } else if (t == "in") {
      if (e.args.size() != 2) fail(e.pos, "test 'in' needs one argument");
      r = truthy(compare("in", v, eval(*e.args[1]), e.pos));
    } else {
      fail(e.pos, fmt::format("unsupported test '{}'", t));
    }
    return Value(json(e.negated ? !r : r));
  }

  Value call(const Expr& e) {
    const Expr& callee = *e.args[0];
    std::vector<Value> args;
    for (size_t i = 1; i < e.args.size(); ++i) args.push_back(eval(*e.args[i]));
    if (callee.kind == Expr::Kind::kName && !lookup_ref(callee.name)) {
      const std::string& fn = callee.name;
      if (fn == "range") {
        if (args.empty() || args.size() > 3) fail(e.pos, "range() takes 1 to 3 arguments");
        for (const Value& a : args) {
          if (a.undefined || !a.j.is_number_integer()) fail(e.pos, "range() arguments must be integers");
        }
        int64_t start = 0, stop = 0, step = 1;
        if (args.size() == 1) {
          stop = args[0].j.get<int64_t>();
        } else {
          start = args[0].j.get<int64_t>();
          stop = args[1].j.get<int64_t>();
          if (args.size() == 3) step = args[2].j.get<int64_t>();
        }
        if (step == 0) fail(e.pos, "range() step must not be zero");
        // Element count computed without overflow, charged before anything is built.
        const long double span = step > 0 ? static_cast<long double>(stop) - start : static_cast<long double>(start) - stop;
        const long double count = span <= 0 ? 0 : std::ceil(span / std::fabs(static_cast<long double>(step)));
        if (count > static_cast<long double>(limits_.max_steps)) spend(e.pos, limits_.max_steps + 1);
        spend(e.pos, static_cast<size_t>(count));
        json out = json::array();
        for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) out.push_back(start + i * step);
        return Value(out);
      }
      if (fn == "namespace") {
        json ns = json::object();
        for (const auto& [k, x] : e.kwargs) {
          const Value v = eval(*x);
          ns[k] = v.undefined ? json() : v.j;
        }
        return Value(ns);
      }
      if (fn == "raise_exception") {
        fail(e.pos, fmt::format("template raised an exception: {}", args.empty() ? "" : to_str(args[0])));
      }
      fail(e.pos, fmt::format("unsupported function '{}'", fn));
    }
    if (callee.kind != Expr::Kind::kGetAttr) fail(e.pos, "unsupported construct: calling a value that is not a method");
    const Value obj = eval(*callee.args[0]);
    const std::string& m = callee.name;
    if (obj.undefined) fail(e.pos, fmt::format("cannot call method '{}' of an undefined value", m));
    if (obj.j.is_string()) {
      const std::string s = obj.j.get<std::string>();
      if (m == "strip" || m == "lstrip" || m == "rstrip") {
        return Value(json(strip_chars(s, args.empty() ? nullptr : &args[0], m != "rstrip", m != "lstrip")));
      }
      if (m == "lower") return Value(json(ascii_lower(s)));
      if (m == "upper") return Value(json(ascii_upper(s)));
      if (m == "capitalize") return Value(json(py_capitalize(s)));
      if (m == "title") return Value(json(py_title(s)));
      if (m == "startswith" || m == "endswith") {
        if (args.size() != 1 || args[0].undefined) fail(e.pos, fmt::format("{}() takes one argument", m));
        std::vector<std::string> options;
        if (args[0].j.is_array()) {
          for (const json& x : args[0].j) options.push_back(python_str(x));
        } else {
          options.push_back(to_str(args[0]));
        }
        for (const std::string& o : options) {
          const bool hit = o.size() <= s.size() &&
                           (m == "startswith" ? s.compare(0, o.size(), o) == 0 : s.compare(s.size() - o.size(), o.size(), o) == 0);
          if (hit) return Value(json(true));
        }
        return Value(json(false));
      }
      if (m == "split") {
        json out = json::array();
        if (args.empty() || args[0].undefined || args[0].j.is_null()) {
          for (std::string& word : split_whitespace(s)) out.push_back(std::move(word));
          return Value(out);
        }
        const std::string sep = to_str(args[0]);
        if (sep.empty()) fail(e.pos, "split() separator must not be empty");
        size_t b = 0, p;
        while ((p = s.find(sep, b)) != std::string::npos) {
          out.push_back(s.substr(b, p - b));
          b = p + sep.size();
        }
        out.push_back(s.substr(b));
        return Value(out);
      }
      if (m == "replace") {
        if (args.size() < 2) fail(e.pos, "replace() takes two arguments");
        const std::string from = to_str(args[0]), to = to_str(args[1]);
        int64_t count = args.size() > 2 && args[2].j.is_number_integer() ? args[2].j.get<int64_t>() : -1;
        if (from.empty()) fail(e.pos, "replace() with an empty pattern is not supported");
        std::string out;
        size_t b = 0, p;
        while (count != 0 && (p = s.find(from, b)) != std::string::npos) {
          out += s.substr(b, p - b) + to;
          b = p + from.size();
          --count;
        }
        return Value(json(out + s.substr(b)));
      }
    }
    if (obj.j.is_object()) {
      if (m == "items") {
        json out = json::array();
        for (const auto& [k, v] : obj.j.items()) out.push_back(json::array({k, v}));
        return Value(out);
      }
      if (m == "keys") {
        json out = json::array();
        for (const auto& [k, v] : obj.j.items()) out.push_back(k);
        return Value(out);
      }
      if (m == "values") {
        json out = json::array();
        for (const auto& [k, v] : obj.j.items()) out.push_back(v);
        return Value(out);
      }
      if (m == "get") {
        if (args.empty()) fail(e.pos, "get() takes a key");
        const Value found = get_item(obj, args[0], e.pos);
        if (!found.undefined) return found;
        return args.size() > 1 ? args[1] : Value(json());
      }
    }
    fail(e.pos, fmt::format("unsupported method '{}' on a value of type {}", m, type_name(obj)));
  }

  // Every expression costs a step; values built by it (not the ones looked up) cost their size.
  Value eval(const Expr& e) {
    spend(e.pos);
    Value v = eval_uncharged(e);
    if (e.kind != Expr::Kind::kName && e.kind != Expr::Kind::kGetAttr && e.kind != Expr::Kind::kGetItem) {
      charge_value(v, e.pos);
    }
    return v;
  }

  Value eval_uncharged(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return Value(e.literal);
      case Expr::Kind::kName: {
        Value* v = lookup_ref(e.name);
        return v ? *v : Value::undef();
      }
      case Expr::Kind::kGetAttr: {
        const Value obj = eval(*e.args[0]);
        if (obj.undefined) fail(e.pos, fmt::format("cannot read attribute '{}' of an undefined value", e.name));
        if (obj.j.is_object()) {
          const auto it = obj.j.find(e.name);
          return it == obj.j.end() ? Value::undef() : Value(*it);
        }
        return Value::undef();
      }
      case Expr::Kind::kGetItem: return get_item(eval(*e.args[0]), eval(*e.args[1]), e.pos);
      case Expr::Kind::kSlice: return slice(eval(*e.args[0]), e);
      case Expr::Kind::kCall: return call(e);
      case Expr::Kind::kFilter: return apply_filter(e);
      case Expr::Kind::kTest: return apply_test(e);
      case Expr::Kind::kNeg:
      case Expr::Kind::kPos: {
        const Value v = eval(*e.args[0]);
        if (v.undefined || !v.j.is_number()) fail(e.pos, fmt::format("bad operand type for unary minus/plus: {}", type_name(v)));
        if (e.kind == Expr::Kind::kPos) return v;
        if (v.j.is_number_float()) return Value(json(-v.j.get<double>()));
        const int64_t x = checked(v.j.get<int64_t>() == INT64_MIN, v.j.get<int64_t>(), e.pos);
        return Value(json(-x));
      }
      case Expr::Kind::kNot: return Value(json(!truthy(eval(*e.args[0]))));
      case Expr::Kind::kAnd: {
        Value a = eval(*e.args[0]);
        return truthy(a) ? eval(*e.args[1]) : a;
      }
      case Expr::Kind::kOr: {
        Value a = eval(*e.args[0]);
        return truthy(a) ? a : eval(*e.args[1]);
      }
      case Expr::Kind::kBinary: return arithmetic(e.name, eval(*e.args[0]), eval(*e.args[1]), e.pos);
      case Expr::Kind::kCompare: return compare(e.name, eval(*e.args[0]), eval(*e.args[1]), e.pos);
      case Expr::Kind::kCond:
        if (truthy(eval(*e.args[0]))) return eval(*e.args[1]);
        return e.args[2] ? eval(*e.args[2]) : Value::undef();
      case Expr::Kind::kList: {
        json out = json::array();
        for (const ExprPtr& x : e.args) {
          const Value v = eval(*x);
          out.push_back(v.undefined ? json() : v.j);
        }
        return Value(out);
      }
      case Expr::Kind::kDict: {
        json out = json::object();
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          const Value k = eval(*e.args[i]);
          if (k.undefined || !k.j.is_string()) fail(e.args[i]->pos, "dict literal keys must be strings");
          const Value v = eval(*e.args[i + 1]);
          out[k.j.get<std::string>()] = v.undefined ? json() : v.j;
        }
        return Value(out);
      }
    }
    fail(e.pos, "internal error: unknown expression");
  }

  SourceRef ref_;
  Options limits_;
  size_t steps_ = 0;
  std::vector<Scope> scopes_;
};

}  // namespace

void render(const Program& program, const json& context, const SourceRef& ref, std::string& out) {
  Renderer(ref, context, program.options).render(program.nodes, out);
}

}  // namespace smolvid::model::jinja
