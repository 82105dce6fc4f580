// run_table: several training runs' final numbers side by side, as a markdown table (stdout) and
// optionally one JSON object per run: steps, training minutes, every field of the last "eval"
// line, and from the closing "summary" line the training rate (its "*_per_s" field), peak RSS and
// peak tensor memory. Reads each run's JSON-lines log (what the training programs write).
//
//   run_table --percent heldout_accuracy --jsonl docs/studies/proteins.jsonl
//             exact=runs/exact.jsonl favor-positive=runs/favor.jsonl
//
// An argument is LABEL=LOG; a log without an eval line is an error naming it. A log from before
// summary lines existed gets "-" in those columns.
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "training_session.hpp"  // run_program

using namespace pf::examples;
using nlohmann::json;

namespace {

struct Options {
  std::vector<std::string> percent;  // eval fields shown x 100 with a % sign
  std::string jsonl;
  std::vector<std::string> runs;  // LABEL=LOG
};

struct RunNumbers {
  std::string label;
  json eval, summary;  // the last of each kind (summary: null when absent)
};

RunNumbers read_run(const std::string& arg) {
  const auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size())
    throw std::invalid_argument(fmt::format("run '{}': expected LABEL=LOG", arg));
  RunNumbers r;
  r.label = arg.substr(0, eq);
  const std::string path = arg.substr(eq + 1);
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("run '{}': cannot read '{}'", r.label, path));
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line, nullptr, /*allow_exceptions*/ false);
    if (!j.is_object()) continue;
    const std::string kind = j.value("kind", "");
    if (kind == "eval") r.eval = j;
    if (kind == "summary") r.summary = j;
  }
  if (r.eval.is_null()) throw std::runtime_error(fmt::format("run '{}': '{}' holds no eval line", r.label, path));
  return r;
}

std::string cell(const json& j, const std::string& key, double scale = 1, const char* suffix = "") {
  if (j.is_null() || !j.contains(key) || !j.at(key).is_number()) return "-";
  const double v = scale * j.at(key).get<double>();
  if (std::abs(v) >= 1000) return fmt::format("{:.0f}{}", v, suffix);
  return fmt::format("{:.4g}{}", v, suffix);
}

std::string minutes(const json& eval) {
  if (!eval.contains("elapsed_s") || !eval.at("elapsed_s").is_number()) return "-";
  return fmt::format("{:.2f}", eval.at("elapsed_s").get<double>() / 60);
}

int run(const Options& o) {
  if (o.runs.empty()) throw std::invalid_argument("no runs given (LABEL=LOG arguments)");
  std::vector<RunNumbers> runs;
  for (const auto& arg : o.runs) runs.push_back(read_run(arg));
  // Columns: the eval fields in the order of the first run's line, then any new ones.
  std::vector<std::string> fields, rates;
  std::set<std::string> seen;
  for (const auto& r : runs) {
    for (const auto& [key, value] : r.eval.items())
      if (key != "kind" && key != "step" && key != "elapsed_s" && seen.insert(key).second) fields.push_back(key);
    if (!r.summary.is_null())
      for (const auto& [key, value] : r.summary.items())
        if (key.size() > 6 && key.compare(key.size() - 6, 6, "_per_s") == 0 && seen.insert(key).second)
          rates.push_back(key);
  }
  const std::set<std::string> percent(o.percent.begin(), o.percent.end());
  std::string header = "| run | steps | minutes |", rule = "| --- | --- | --- |";
  for (const auto& f : fields) {
    header += fmt::format(" {}{} |", f, percent.count(f) ? " (%)" : "");
    rule += " --- |";
  }
  for (const auto& f : rates) {
    header += fmt::format(" {} |", f);
    rule += " --- |";
  }
  header += " peak RSS (MiB) | peak tensors (MiB) |";
  rule += " --- | --- |";
  fmt::print("{}\n{}\n", header, rule);
  std::ofstream jsonl;
  if (!o.jsonl.empty()) {
    jsonl.open(o.jsonl);
    if (!jsonl) throw std::runtime_error(fmt::format("cannot write '{}'", o.jsonl));
  }
  const double mib = 1.0 / (1 << 20);
  for (const auto& r : runs) {
    std::string row = fmt::format("| {} | {} | {} |", r.label, cell(r.eval, "step"), minutes(r.eval));
    json out = {{"run", r.label}, {"step", r.eval.value("step", json())}, {"elapsed_s", r.eval.value("elapsed_s", json())}};
    for (const auto& f : fields) {
      row += fmt::format(" {} |", cell(r.eval, f, percent.count(f) ? 100 : 1));
      out[f] = r.eval.value(f, json());
    }
    for (const auto& f : rates) {
      row += fmt::format(" {} |", cell(r.summary, f));
      out[f] = r.summary.is_null() ? json() : r.summary.value(f, json());
    }
    row += fmt::format(" {} | {} |", cell(r.summary, "peak_rss_bytes", mib), cell(r.summary, "peak_tensor_bytes", mib));
    for (const char* key : {"peak_rss_bytes", "peak_tensor_bytes"})
      out[key] = r.summary.is_null() ? json() : r.summary.value(key, json());
    fmt::print("{}\n", row);
    if (jsonl.is_open()) jsonl << out.dump() << '\n';
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Several training runs' final evaluation, rate and peak memory as a markdown table."};
  app.add_option("--percent", o.percent, "eval fields to show as percentages (x 100)");
  app.add_option("--jsonl", o.jsonl, "also write one JSON object per run to this file");
  app.add_option("runs", o.runs, "LABEL=LOG, one per run")->required();
  CLI11_PARSE(app, argc, argv);
  return run_program("run_table", [&] { return run(o); });
}
