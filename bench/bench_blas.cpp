// bench_blas: which BLAS libtorch's float32 matmul really runs on, and how fast bfloat16 goes.
// Debian's libtorch links the generic libblas.so.3; without an optimised BLAS registered as that
// alternative (scripts/install-deps.sh installs libopenblas0-pthread) float32 matmul runs on the
// reference BLAS at a few GFLOP/s. Prints GFLOP/s per dtype for the SmolVLM-256M matmul shapes.
//
//   bench_blas [threads]      (default 2)
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/core.h>

#include <chrono>
#include <cstdlib>

namespace {

double gflops(int64_t m, int64_t k, int64_t n, at::ScalarType dtype) {
  at::Tensor a = at::randn({m, k}).to(dtype);
  at::Tensor b = at::randn({k, n}).to(dtype);
  at::Tensor c = at::mm(a, b);  // warm-up (allocations, kernel selection)
  int reps = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    at::mm_out(c, a, b);
    ++reps;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < 1.0);
  return 2.0 * m * k * n * reps / elapsed / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  at::set_num_threads(threads);
  fmt::print("threads {}\n", threads);
  struct Shape {
    const char* what;
    int64_t m, k, n;
  };
  const Shape shapes[] = {
      {"vision fc1 (1024 patches x 768 -> 3072)", 1024, 768, 3072},
      {"text mlp (512 tokens x 576 -> 1536)", 512, 576, 1536},
      {"decode step gate_proj (1 x 576 -> 1536)", 1, 576, 1536},
  };
  for (const Shape& s : shapes) {
    const double f32 = gflops(s.m, s.k, s.n, at::kFloat);
    const double bf16 = gflops(s.m, s.k, s.n, at::kBFloat16);
    fmt::print("{:<44} float32 {:8.1f} GFLOP/s   bfloat16 {:8.1f} GFLOP/s\n", s.what, f32, bf16);
  }
  return 0;
}
