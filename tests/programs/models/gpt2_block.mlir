// A GPT-2-style transformer block (pre-layernorm, single-head causal self-attention,
// MLP with the tanh GELU whose x**3 is math.fpowi: what iree-turbine exports for
// GPT-2 and 3.13 lowers to vm.fpowi.f32 in VMVX executables). 8 tokens x 16 features,
// MLP width 32; weights are inputs so tests choose them.
#id2 = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (i)>
#col = affine_map<(i, j) -> (j)>
#qk_q = affine_map<(i, j, k) -> (i, k)>
#qk_k = affine_map<(i, j, k) -> (j, k)>
#qk_s = affine_map<(i, j, k) -> (i, j)>

func.func private @layernorm(%x: tensor<8x16xf32>, %g: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %n = arith.constant 16.0 : f32
  %eps = arith.constant 1.0e-5 : f32
  %e8 = tensor.empty() : tensor<8xf32>
  %s0 = linalg.fill ins(%zero : f32) outs(%e8 : tensor<8xf32>) -> tensor<8xf32>
  %sum = linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<8x16xf32>) outs(%s0 : tensor<8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  %sq = linalg.generic {indexing_maps = [#id2, #row, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x, %sum : tensor<8x16xf32>, tensor<8xf32>) outs(%s0 : tensor<8xf32>) {
  ^bb0(%a: f32, %s: f32, %acc: f32):
    %mean = arith.divf %s, %n : f32
    %d = arith.subf %a, %mean : f32
    %d2 = arith.mulf %d, %d : f32
    %r = arith.addf %d2, %acc : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  %e = tensor.empty() : tensor<8x16xf32>
  %y = linalg.generic {indexing_maps = [#id2, #row, #row, #col, #col, #id2],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x, %sum, %sq, %g, %b : tensor<8x16xf32>, tensor<8xf32>, tensor<8xf32>, tensor<16xf32>, tensor<16xf32>)
      outs(%e : tensor<8x16xf32>) {
  ^bb0(%a: f32, %s: f32, %v: f32, %gg: f32, %bb: f32, %o: f32):
    %mean = arith.divf %s, %n : f32
    %var = arith.divf %v, %n : f32
    %ve = arith.addf %var, %eps : f32
    %rs = math.rsqrt %ve : f32
    %d = arith.subf %a, %mean : f32
    %nd = arith.mulf %d, %rs : f32
    %sc = arith.mulf %nd, %gg : f32
    %r = arith.addf %sc, %bb : f32
    linalg.yield %r : f32
  } -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}

func.func private @linear(%x: tensor<8x16xf32>, %w: tensor<16x16xf32>) -> tensor<8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x16xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<8x16xf32>) -> tensor<8x16xf32>
  %y = linalg.matmul ins(%x, %w : tensor<8x16xf32>, tensor<16x16xf32>) outs(%init : tensor<8x16xf32>) -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}

func.func @block(%x: tensor<8x16xf32>, %wq: tensor<16x16xf32>, %wk: tensor<16x16xf32>,
                 %wv: tensor<16x16xf32>, %wo: tensor<16x16xf32>, %w1: tensor<16x32xf32>,
                 %w2: tensor<32x16xf32>, %g: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant -3.0e38 : f32
  %scale = arith.constant 0.25 : f32  // 1/sqrt(16)
  // Attention.
  %h = call @layernorm(%x, %g, %b) : (tensor<8x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<8x16xf32>
  %q = call @linear(%h, %wq) : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
  %k = call @linear(%h, %wk) : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
  %v = call @linear(%h, %wv) : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
  %e88 = tensor.empty() : tensor<8x8xf32>
  %s0 = linalg.fill ins(%zero : f32) outs(%e88 : tensor<8x8xf32>) -> tensor<8x8xf32>
  %scores = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_s],
                            iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<8x16xf32>, tensor<8x16xf32>) outs(%s0 : tensor<8x8xf32>) {
  ^bb0(%a: f32, %bk: f32, %acc: f32):
    %p = arith.mulf %a, %bk : f32
    %r = arith.addf %p, %acc : f32
    linalg.yield %r : f32
  } -> tensor<8x8xf32>
  // Scale and causal mask.
  %masked = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%scores : tensor<8x8xf32>) outs(%e88 : tensor<8x8xf32>) {
  ^bb0(%s: f32, %o: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %future = arith.cmpi ugt, %j, %i : index
    %sc = arith.mulf %s, %scale : f32
    %r = arith.select %future, %ninf, %sc : f32
    linalg.yield %r : f32
  } -> tensor<8x8xf32>
  // Softmax over each row.
  %e8 = tensor.empty() : tensor<8xf32>
  %m0 = linalg.fill ins(%ninf : f32) outs(%e8 : tensor<8xf32>) -> tensor<8xf32>
  %max = linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}
      ins(%masked : tensor<8x8xf32>) outs(%m0 : tensor<8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  %z0 = linalg.fill ins(%zero : f32) outs(%e8 : tensor<8xf32>) -> tensor<8xf32>
  %den = linalg.generic {indexing_maps = [#id2, #row, #row], iterator_types = ["parallel", "reduction"]}
      ins(%masked, %max : tensor<8x8xf32>, tensor<8xf32>) outs(%z0 : tensor<8xf32>) {
  ^bb0(%a: f32, %m: f32, %acc: f32):
    %d = arith.subf %a, %m : f32
    %ex = math.exp %d : f32
    %r = arith.addf %ex, %acc : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  %probs = linalg.generic {indexing_maps = [#id2, #row, #row, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%masked, %max, %den : tensor<8x8xf32>, tensor<8xf32>, tensor<8xf32>) outs(%e88 : tensor<8x8xf32>) {
  ^bb0(%a: f32, %m: f32, %dd: f32, %o: f32):
    %d = arith.subf %a, %m : f32
    %ex = math.exp %d : f32
    %r = arith.divf %ex, %dd : f32
    linalg.yield %r : f32
  } -> tensor<8x8xf32>
  %e816 = tensor.empty() : tensor<8x16xf32>
  %c0 = linalg.fill ins(%zero : f32) outs(%e816 : tensor<8x16xf32>) -> tensor<8x16xf32>
  %ctx = linalg.matmul ins(%probs, %v : tensor<8x8xf32>, tensor<8x16xf32>) outs(%c0 : tensor<8x16xf32>) -> tensor<8x16xf32>
  %attn = call @linear(%ctx, %wo) : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
  %x1 = arith.addf %x, %attn : tensor<8x16xf32>
  // MLP with the tanh GELU: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3))).
  %h2 = call @layernorm(%x1, %g, %b) : (tensor<8x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<8x16xf32>
  %e832 = tensor.empty() : tensor<8x32xf32>
  %u0 = linalg.fill ins(%zero : f32) outs(%e832 : tensor<8x32xf32>) -> tensor<8x32xf32>
  %up = linalg.matmul ins(%h2, %w1 : tensor<8x16xf32>, tensor<16x32xf32>) outs(%u0 : tensor<8x32xf32>) -> tensor<8x32xf32>
  %gelu = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%up : tensor<8x32xf32>) outs(%e832 : tensor<8x32xf32>) {
  ^bb0(%a: f32, %o: f32):
    %three = arith.constant 3 : i64
    %half = arith.constant 0.5 : f32
    %one = arith.constant 1.0 : f32
    %c = arith.constant 0.044715 : f32
    %kg = arith.constant 0.7978845608 : f32
    %cube = math.fpowi %a, %three : f32, i64
    %t1 = arith.mulf %cube, %c : f32
    %t2 = arith.addf %a, %t1 : f32
    %t3 = arith.mulf %t2, %kg : f32
    %t4 = math.tanh %t3 : f32
    %t5 = arith.addf %t4, %one : f32
    %t6 = arith.mulf %a, %half : f32
    %r = arith.mulf %t6, %t5 : f32
    linalg.yield %r : f32
  } -> tensor<8x32xf32>
  %d0 = linalg.fill ins(%zero : f32) outs(%e816 : tensor<8x16xf32>) -> tensor<8x16xf32>
  %down = linalg.matmul ins(%gelu, %w2 : tensor<8x32xf32>, tensor<32x16xf32>) outs(%d0 : tensor<8x16xf32>) -> tensor<8x16xf32>
  %y = arith.addf %x1, %down : tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}
