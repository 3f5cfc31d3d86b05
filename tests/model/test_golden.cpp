// The C++ SmolVLM against the transformers fixtures in ../shared/golden (README section 1).
#include <gtest/gtest.h>
#include <fmt/core.h>

#include <string>

#include "model/nn/golden.h"
#include "tests/test_support.h"

namespace {

using smolvid::model::GoldenOptions;
using smolvid::model::GoldenReport;
using smolvid::model::run_golden;

void print(const GoldenReport& r) {
  for (const auto& row : r.rows) {
    fmt::print("  {:<4} {:<22} {:<26} max_abs_diff {:<12.4g} {}\n", row.pass ? "ok" : "FAIL", row.case_name, row.tensor,
               row.max_abs_diff, row.detail);
  }
}

class GoldenFloat32 : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenFloat32, EveryTensorWithin1e4AndGreedyIdsIdentical) {
  GoldenOptions o;
  o.threads = 2;
  const GoldenReport r = run_golden(smolvid::test::golden(GetParam()), o);
  print(r);
  int generated = 0, hidden = 0, logits = 0;
  for (const auto& row : r.rows) {
    EXPECT_TRUE(row.pass) << row.case_name << "." << row.tensor << " max abs diff " << row.max_abs_diff << " ("
                          << row.detail << ")";
    generated += row.tensor == "generated_ids";
    hidden += row.tensor.find("hidden_states.") != std::string::npos;
    logits += row.tensor.rfind("logits", 0) == 0;
  }
  // The fixtures hold 5 cases, per-layer hidden states for case b, padded-batch logits twice.
  EXPECT_EQ(generated, 5);
  EXPECT_EQ(hidden, 6);
  EXPECT_EQ(logits, 7);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenFloat32,
                         ::testing::Values("tiny-idefics3", "tiny-idefics3-sf4", "tiny-smolvlm", "tiny-smolvlm-sf4"));

}  // namespace

namespace {

class GoldenBfloat16 : public ::testing::TestWithParam<std::string> {};

// bfloat16 cannot be exact against a float32 reference: float tensors must stay within a bound
// that a wrong operation order or dtype flow would exceed, and greedy ids must agree except in the
// two rows listed here, where the float32 reference itself has a near-tie (measured: tiny-idefics3-sf4
// a_text_only diverges after 9 tokens, tiny-smolvlm c_split_batch2 row 1 at the first token).
TEST_P(GoldenBfloat16, CloseToFloat32ReferenceAndGreedyAgrees) {
  GoldenOptions o;
  o.threads = 2;
  o.dtype = "bfloat16";
  o.atol = 0.25;
  o.require_generated_ids = false;
  const GoldenReport r = run_golden(smolvid::test::golden(GetParam()), o);
  print(r);
  for (const auto& row : r.rows) {
    if (row.tensor != "generated_ids") {
      EXPECT_TRUE(row.pass) << row.case_name << "." << row.tensor << " max abs diff " << row.max_abs_diff;
      continue;
    }
    for (size_t b = 0; b < row.leading_agreement.size(); ++b) {
      const bool known_tie = (GetParam() == "tiny-idefics3-sf4" && row.case_name == "a_text_only") ||
                             (GetParam() == "tiny-smolvlm" && row.case_name == "c_split_batch2" && b == 1);
      if (known_tie) continue;
      EXPECT_EQ(row.leading_agreement[b], 12) << row.case_name << " row " << b << ": " << row.detail;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenBfloat16,
                         ::testing::Values("tiny-idefics3", "tiny-idefics3-sf4", "tiny-smolvlm", "tiny-smolvlm-sf4"));

}  // namespace
