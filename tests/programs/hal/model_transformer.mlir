// A GPT-2-shaped transformer block for VMVX benchmarks (benchmarks/vmvx_model.py) and the
// lifted-dispatch tests: layernorm, q/k/v projections, 4-head attention with a softmax,
// output projection, residuals, layernorm and a GELU (tanh) MLP. Sequence 128, width 256.
#id2 = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (i)>
#col = affine_map<(i, j) -> (j)>
func.func private @layernorm(%x: tensor<128x256xf32>, %g: tensor<256xf32>, %b: tensor<256xf32>) -> tensor<128x256xf32> {
  %zero = arith.constant 0.0 : f32
  %n = arith.constant 256.0 : f32
  %eps = arith.constant 1.0e-5 : f32
  %e1 = tensor.empty() : tensor<128xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<128xf32>) -> tensor<128xf32>
  %sum = linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<128x256xf32>) outs(%z1 : tensor<128xf32>) {
  ^bb0(%v: f32, %a: f32):
    %s = arith.addf %v, %a : f32
    linalg.yield %s : f32
  } -> tensor<128xf32>
  %sq = linalg.generic {indexing_maps = [#id2, #row, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x, %sum : tensor<128x256xf32>, tensor<128xf32>) outs(%z1 : tensor<128xf32>) {
  ^bb0(%v: f32, %s: f32, %a: f32):
    %m = arith.divf %s, %n : f32
    %d = arith.subf %v, %m : f32
    %d2 = arith.mulf %d, %d : f32
    %r = arith.addf %d2, %a : f32
    linalg.yield %r : f32
  } -> tensor<128xf32>
  %e2 = tensor.empty() : tensor<128x256xf32>
  %y = linalg.generic {indexing_maps = [#id2, #row, #row, #col, #col, #id2],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x, %sum, %sq, %g, %b : tensor<128x256xf32>, tensor<128xf32>, tensor<128xf32>, tensor<256xf32>, tensor<256xf32>)
      outs(%e2 : tensor<128x256xf32>) {
  ^bb0(%v: f32, %s: f32, %q: f32, %gg: f32, %bb: f32, %o: f32):
    %m = arith.divf %s, %n : f32
    %var = arith.divf %q, %n : f32
    %ve = arith.addf %var, %eps : f32
    %r = math.rsqrt %ve : f32
    %d = arith.subf %v, %m : f32
    %t = arith.mulf %d, %r : f32
    %u = arith.mulf %t, %gg : f32
    %w = arith.addf %u, %bb : f32
    linalg.yield %w : f32
  } -> tensor<128x256xf32>
  return %y : tensor<128x256xf32>
}
func.func private @linear(%x: tensor<128x256xf32>, %w: tensor<256x256xf32>) -> tensor<128x256xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<128x256xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<128x256xf32>) -> tensor<128x256xf32>
  %y = linalg.matmul ins(%x, %w : tensor<128x256xf32>, tensor<256x256xf32>) outs(%z : tensor<128x256xf32>) -> tensor<128x256xf32>
  return %y : tensor<128x256xf32>
}
func.func @block(%x: tensor<128x256xf32>, %g1: tensor<256xf32>, %b1: tensor<256xf32>,
                 %wq: tensor<256x256xf32>, %wk: tensor<256x256xf32>, %wv: tensor<256x256xf32>,
                 %wo: tensor<256x256xf32>, %g2: tensor<256xf32>, %b2: tensor<256xf32>,
                 %w1: tensor<256x1024xf32>, %w2: tensor<1024x256xf32>) -> tensor<128x256xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant -3.40282347e+38 : f32
  %scale = arith.constant 0.125 : f32
  %h = call @layernorm(%x, %g1, %b1) : (tensor<128x256xf32>, tensor<256xf32>, tensor<256xf32>) -> tensor<128x256xf32>
  %q = call @linear(%h, %wq) : (tensor<128x256xf32>, tensor<256x256xf32>) -> tensor<128x256xf32>
  %k = call @linear(%h, %wk) : (tensor<128x256xf32>, tensor<256x256xf32>) -> tensor<128x256xf32>
  %v = call @linear(%h, %wv) : (tensor<128x256xf32>, tensor<256x256xf32>) -> tensor<128x256xf32>
  %q3 = tensor.expand_shape %q [[0], [1, 2]] output_shape [128, 4, 64] : tensor<128x256xf32> into tensor<128x4x64xf32>
  %k3 = tensor.expand_shape %k [[0], [1, 2]] output_shape [128, 4, 64] : tensor<128x256xf32> into tensor<128x4x64xf32>
  %v3 = tensor.expand_shape %v [[0], [1, 2]] output_shape [128, 4, 64] : tensor<128x256xf32> into tensor<128x4x64xf32>
  %es = tensor.empty() : tensor<4x128x128xf32>
  %zs = linalg.fill ins(%zero : f32) outs(%es : tensor<4x128x128xf32>) -> tensor<4x128x128xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(h, i, j, d) -> (i, h, d)>, affine_map<(h, i, j, d) -> (j, h, d)>,
                                        affine_map<(h, i, j, d) -> (h, i, j)>],
                       iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%q3, %k3 : tensor<128x4x64xf32>, tensor<128x4x64xf32>) outs(%zs : tensor<4x128x128xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %m, %acc : f32
    linalg.yield %r : f32
  } -> tensor<4x128x128xf32>
  %em = tensor.empty() : tensor<4x128xf32>
  %nm = linalg.fill ins(%ninf : f32) outs(%em : tensor<4x128xf32>) -> tensor<4x128xf32>
  %mx = linalg.generic {indexing_maps = [affine_map<(h, i, j) -> (h, i, j)>, affine_map<(h, i, j) -> (h, i)>],
                        iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%s : tensor<4x128x128xf32>) outs(%nm : tensor<4x128xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<4x128xf32>
  %ex = linalg.generic {indexing_maps = [affine_map<(h, i, j) -> (h, i, j)>, affine_map<(h, i, j) -> (h, i)>,
                                         affine_map<(h, i, j) -> (h, i, j)>],
                        iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s, %mx : tensor<4x128x128xf32>, tensor<4x128xf32>) outs(%es : tensor<4x128x128xf32>) {
  ^bb0(%a: f32, %m: f32, %o: f32):
    %d = arith.subf %a, %m : f32
    %d2 = arith.mulf %d, %scale : f32
    %e = math.exp %d2 : f32
    linalg.yield %e : f32
  } -> tensor<4x128x128xf32>
  %zm = linalg.fill ins(%zero : f32) outs(%em : tensor<4x128xf32>) -> tensor<4x128xf32>
  %sm = linalg.generic {indexing_maps = [affine_map<(h, i, j) -> (h, i, j)>, affine_map<(h, i, j) -> (h, i)>],
                        iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%ex : tensor<4x128x128xf32>) outs(%zm : tensor<4x128xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<4x128xf32>
  %p = linalg.generic {indexing_maps = [affine_map<(h, i, j) -> (h, i, j)>, affine_map<(h, i, j) -> (h, i)>,
                                        affine_map<(h, i, j) -> (h, i, j)>],
                       iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%ex, %sm : tensor<4x128x128xf32>, tensor<4x128xf32>) outs(%es : tensor<4x128x128xf32>) {
  ^bb0(%a: f32, %t: f32, %o: f32):
    %d = arith.divf %a, %t : f32
    linalg.yield %d : f32
  } -> tensor<4x128x128xf32>
  %eo = tensor.empty() : tensor<128x4x64xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo : tensor<128x4x64xf32>) -> tensor<128x4x64xf32>
  %o3 = linalg.generic {indexing_maps = [affine_map<(i, h, d, j) -> (h, i, j)>, affine_map<(i, h, d, j) -> (j, h, d)>,
                                         affine_map<(i, h, d, j) -> (i, h, d)>],
                        iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v3 : tensor<4x128x128xf32>, tensor<128x4x64xf32>) outs(%zo : tensor<128x4x64xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %m, %acc : f32
    linalg.yield %r : f32
  } -> tensor<128x4x64xf32>
  %oc = tensor.collapse_shape %o3 [[0], [1, 2]] : tensor<128x4x64xf32> into tensor<128x256xf32>
  %proj = call @linear(%oc, %wo) : (tensor<128x256xf32>, tensor<256x256xf32>) -> tensor<128x256xf32>
  %e2 = tensor.empty() : tensor<128x256xf32>
  %r1 = arith.addf %x, %proj : tensor<128x256xf32>
  %h2 = call @layernorm(%r1, %g2, %b2) : (tensor<128x256xf32>, tensor<256xf32>, tensor<256xf32>) -> tensor<128x256xf32>
  %e4 = tensor.empty() : tensor<128x1024xf32>
  %z4 = linalg.fill ins(%zero : f32) outs(%e4 : tensor<128x1024xf32>) -> tensor<128x1024xf32>
  %u = linalg.matmul ins(%h2, %w1 : tensor<128x256xf32>, tensor<256x1024xf32>) outs(%z4 : tensor<128x1024xf32>) -> tensor<128x1024xf32>
  %c0p5 = arith.constant 0.5 : f32
  %c1 = arith.constant 1.0 : f32
  %ck = arith.constant 0.797884583 : f32
  %c3 = arith.constant 0.044715 : f32
  %g = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%u : tensor<128x1024xf32>) outs(%e4 : tensor<128x1024xf32>) {
  ^bb0(%a: f32, %o: f32):
    %a3 = arith.mulf %a, %a : f32
    %a3b = arith.mulf %a3, %a : f32
    %t0 = arith.mulf %a3b, %c3 : f32
    %t1 = arith.addf %a, %t0 : f32
    %t2 = arith.mulf %t1, %ck : f32
    %t3 = math.tanh %t2 : f32
    %t4 = arith.addf %t3, %c1 : f32
    %t5 = arith.mulf %a, %t4 : f32
    %t6 = arith.mulf %t5, %c0p5 : f32
    linalg.yield %t6 : f32
  } -> tensor<128x1024xf32>
  %z5 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<128x256xf32>) -> tensor<128x256xf32>
  %d = linalg.matmul ins(%g, %w2 : tensor<128x1024xf32>, tensor<1024x256xf32>) outs(%z5 : tensor<128x256xf32>) -> tensor<128x256xf32>
  %out = arith.addf %r1, %d : tensor<128x256xf32>
  return %out : tensor<128x256xf32>
}
