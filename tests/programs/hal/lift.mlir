// Dispatch shapes that iree_lab lifts to numpy (iree_lab/hal/vmvx_lift.py), each compared
// bit for bit with iree-run-module (tests/test_hal_lift.py): float arithmetic with
// denormals and NaN payloads, integer wraparound, i8 storage, reductions, a matmul, a
// convolution, reversed (negative-stride) and transposed access, rare ops that run
// element by element through the VM's templates.
#id1 = affine_map<(i) -> (i)>
#id2 = affine_map<(i, j) -> (i, j)>
func.func @f32_arith(%a: tensor<4x16xf32>, %b: tensor<4x16xf32>) -> (tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>) {
  %e = tensor.empty() : tensor<4x16xf32>
  %r:6 = linalg.generic {indexing_maps = [#id2, #id2, #id2, #id2, #id2, #id2, #id2, #id2],
                         iterator_types = ["parallel", "parallel"]}
      ins(%a, %b : tensor<4x16xf32>, tensor<4x16xf32>) outs(%e, %e, %e, %e, %e, %e : tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>) {
  ^bb0(%x: f32, %y: f32, %o0: f32, %o1: f32, %o2: f32, %o3: f32, %o4: f32, %o5: f32):
    %add = arith.addf %x, %y : f32
    %sub = arith.subf %y, %x : f32
    %mul = arith.mulf %x, %y : f32
    %div = arith.divf %x, %y : f32
    %fma = math.fma %x, %y, %add : f32
    %mx = arith.maximumf %x, %y : f32
    %mn = arith.minimumf %y, %x : f32
    %lt = arith.cmpf ult, %x, %y : f32
    %sel = arith.select %lt, %mx, %mn : f32
    %ab = math.absf %sub : f32
    %ng = arith.negf %div : f32
    %sq = math.sqrt %ab : f32
    %rs = math.rsqrt %ab : f32
    %s2 = arith.addf %sq, %rs : f32
    linalg.yield %add, %sub, %mul, %ng, %fma, %sel : f32, f32, f32, f32, f32, f32
  } -> (tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>)
  return %r#0, %r#1, %r#2, %r#3, %r#4, %r#5 : tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>
}

func.func @f32_unary(%a: tensor<64xf32>) -> (tensor<64xf32>, tensor<64xf32>, tensor<64xi32>) {
  %e = tensor.empty() : tensor<64xf32>
  %ei = tensor.empty() : tensor<64xi32>
  %r:3 = linalg.generic {indexing_maps = [#id1, #id1, #id1, #id1], iterator_types = ["parallel"]}
      ins(%a : tensor<64xf32>) outs(%e, %e, %ei : tensor<64xf32>, tensor<64xf32>, tensor<64xi32>) {
  ^bb0(%x: f32, %o0: f32, %o1: f32, %o2: i32):
    %ex = math.exp %x : f32
    %th = math.tanh %x : f32
    %fl = math.floor %x : f32
    %s = arith.addf %th, %fl : f32
    %sq = math.sqrt %x : f32
    %c = arith.fptosi %x : f32 to i32
    linalg.yield %ex, %s, %c : f32, f32, i32
  } -> (tensor<64xf32>, tensor<64xf32>, tensor<64xi32>)
  return %r#0, %r#1, %r#2 : tensor<64xf32>, tensor<64xf32>, tensor<64xi32>
}

func.func @i32_wrap(%a: tensor<32xi32>, %b: tensor<32xi32>) -> (tensor<32xi32>, tensor<32xi32>, tensor<32xi32>, tensor<32xf32>) {
  %e = tensor.empty() : tensor<32xi32>
  %ef = tensor.empty() : tensor<32xf32>
  %c3 = arith.constant 3 : i32
  %r:4 = linalg.generic {indexing_maps = [#id1, #id1, #id1, #id1, #id1, #id1], iterator_types = ["parallel"]}
      ins(%a, %b : tensor<32xi32>, tensor<32xi32>) outs(%e, %e, %e, %ef : tensor<32xi32>, tensor<32xi32>, tensor<32xi32>, tensor<32xf32>) {
  ^bb0(%x: i32, %y: i32, %o0: i32, %o1: i32, %o2: i32, %o3: f32):
    %add = arith.addi %x, %y : i32
    %mul = arith.muli %x, %y : i32
    %sub = arith.subi %mul, %add : i32
    %sh = arith.shli %x, %c3 : i32
    %shr = arith.shrsi %y, %c3 : i32
    %xo = arith.xori %sh, %shr : i32
    %lt = arith.cmpi slt, %x, %y : i32
    %mx = arith.select %lt, %y, %x : i32
    %an = arith.andi %mx, %xo : i32
    %f = arith.sitofp %mul : i32 to f32
    linalg.yield %add, %sub, %an, %f : i32, i32, i32, f32
  } -> (tensor<32xi32>, tensor<32xi32>, tensor<32xi32>, tensor<32xf32>)
  return %r#0, %r#1, %r#2, %r#3 : tensor<32xi32>, tensor<32xi32>, tensor<32xi32>, tensor<32xf32>
}

func.func @i8_add(%a: tensor<48xi8>, %b: tensor<48xi8>) -> tensor<48xi8> {
  %r = arith.addi %a, %b : tensor<48xi8>
  return %r : tensor<48xi8>
}

func.func @reductions(%x: tensor<24x40xf32>) -> (tensor<24xf32>, tensor<40xf32>) {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %e1 = tensor.empty() : tensor<24xf32>
  %s0 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<24xf32>) -> tensor<24xf32>
  %sum = linalg.generic {indexing_maps = [#id2, affine_map<(i, j) -> (i)>], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<24x40xf32>) outs(%s0 : tensor<24xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %s = arith.addf %v, %acc : f32
    linalg.yield %s : f32
  } -> tensor<24xf32>
  %e2 = tensor.empty() : tensor<40xf32>
  %m0 = linalg.fill ins(%ninf : f32) outs(%e2 : tensor<40xf32>) -> tensor<40xf32>
  %max = linalg.generic {indexing_maps = [#id2, affine_map<(i, j) -> (j)>], iterator_types = ["reduction", "parallel"]}
      ins(%x : tensor<24x40xf32>) outs(%m0 : tensor<40xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %m = arith.maximumf %v, %acc : f32
    linalg.yield %m : f32
  } -> tensor<40xf32>
  return %sum, %max : tensor<24xf32>, tensor<40xf32>
}

func.func @matmul(%a: tensor<33x48xf32>, %b: tensor<48x40xf32>) -> tensor<33x40xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<33x40xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<33x40xf32>) -> tensor<33x40xf32>
  %r = linalg.matmul ins(%a, %b : tensor<33x48xf32>, tensor<48x40xf32>) outs(%z : tensor<33x40xf32>) -> tensor<33x40xf32>
  return %r : tensor<33x40xf32>
}

func.func @conv(%x: tensor<1x10x12x8xf32>, %w: tensor<3x3x8x16xf32>) -> tensor<1x8x10x16xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x8x10x16xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8x10x16xf32>) -> tensor<1x8x10x16xf32>
  %r = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x10x12x8xf32>, tensor<3x3x8x16xf32>) outs(%z : tensor<1x8x10x16xf32>) -> tensor<1x8x10x16xf32>
  return %r : tensor<1x8x10x16xf32>
}

func.func @reverse_transpose(%x: tensor<37x20xf32>) -> (tensor<37x20xf32>, tensor<20x37xf32>) {
  %e = tensor.empty() : tensor<37x20xf32>
  %c36 = arith.constant 36 : index
  %c19 = arith.constant 19 : index
  %rev = linalg.generic {indexing_maps = [#id2], iterator_types = ["parallel", "parallel"]}
      outs(%e : tensor<37x20xf32>) {
  ^bb0(%o: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %ri = arith.subi %c36, %i : index
    %rj = arith.subi %c19, %j : index
    %v = tensor.extract %x[%ri, %rj] : tensor<37x20xf32>
    linalg.yield %v : f32
  } -> tensor<37x20xf32>
  %et = tensor.empty() : tensor<20x37xf32>
  %t = linalg.transpose ins(%x : tensor<37x20xf32>) outs(%et : tensor<20x37xf32>) permutation = [1, 0]
  return %rev, %t : tensor<37x20xf32>, tensor<20x37xf32>
}

// linalg.softmax: loops whose exit edges carry remaps straight into the next loop.
func.func @softmax(%a: tensor<16x130xf32>) -> tensor<16x130xf32> {
  %empty = tensor.empty() : tensor<16x130xf32>
  %0 = linalg.softmax dimension(1) ins(%a : tensor<16x130xf32>) outs(%empty : tensor<16x130xf32>) -> tensor<16x130xf32>
  return %0 : tensor<16x130xf32>
}

// ResNet pieces: a padded 3x3 stride-2 max pool, a 1x1 stride-2 convolution
// (downsample), an inference batch norm and a global average pool.
func.func @resnet_pieces(%x: tensor<1x16x16x8xf32>, %w: tensor<1x1x8x16xf32>,
                         %scale: tensor<16xf32>, %shift: tensor<16xf32>) -> (tensor<1x8x8x8xf32>, tensor<1x16xf32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %x low[0, 1, 1, 0] high[0, 1, 1, 0] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %ninf : f32
  } : tensor<1x16x16x8xf32> to tensor<1x18x18x8xf32>
  %win = tensor.empty() : tensor<3x3xf32>
  %e0 = tensor.empty() : tensor<1x8x8x8xf32>
  %m0 = linalg.fill ins(%ninf : f32) outs(%e0 : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
  %pool = linalg.pooling_nhwc_max {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%p, %win : tensor<1x18x18x8xf32>, tensor<3x3xf32>) outs(%m0 : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
  %e1 = tensor.empty() : tensor<1x8x8x16xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x8x8x16xf32>) -> tensor<1x8x8x16xf32>
  %c = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x, %w : tensor<1x16x16x8xf32>, tensor<1x1x8x16xf32>) outs(%z1 : tensor<1x8x8x16xf32>) -> tensor<1x8x8x16xf32>
  %bn = linalg.generic {indexing_maps = [affine_map<(n, h, w, c) -> (n, h, w, c)>, affine_map<(n, h, w, c) -> (c)>,
                                         affine_map<(n, h, w, c) -> (c)>, affine_map<(n, h, w, c) -> (n, h, w, c)>],
                        iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c, %scale, %shift : tensor<1x8x8x16xf32>, tensor<16xf32>, tensor<16xf32>) outs(%e1 : tensor<1x8x8x16xf32>) {
  ^bb0(%v: f32, %s: f32, %b: f32, %o: f32):
    %t = arith.mulf %v, %s : f32
    %u = arith.addf %t, %b : f32
    %r = arith.maximumf %u, %zero : f32
    linalg.yield %r : f32
  } -> tensor<1x8x8x16xf32>
  %e2 = tensor.empty() : tensor<1x16xf32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x16xf32>) -> tensor<1x16xf32>
  %sum = linalg.generic {indexing_maps = [affine_map<(n, h, w, c) -> (n, h, w, c)>, affine_map<(n, h, w, c) -> (n, c)>],
                         iterator_types = ["parallel", "reduction", "reduction", "parallel"]}
      ins(%bn : tensor<1x8x8x16xf32>) outs(%z2 : tensor<1x16xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %s = arith.addf %v, %acc : f32
    linalg.yield %s : f32
  } -> tensor<1x16xf32>
  return %pool, %sum : tensor<1x8x8x8xf32>, tensor<1x16xf32>
}

// A constant (non-splat) bias folded into the dispatch: vm.const.ref.rodata, loaded as data.
func.func @const_bias(%x: tensor<8x16xf32>) -> tensor<8x16xf32> {
  %b = arith.constant dense<[0.5, -1.25, 3.0, 0.0, -0.0, 1.0e-39, 7.5, -2.0,
                             0.125, 9.0, -3.5, 4.25, 1.0e10, -6.0, 0.75, 2.5]> : tensor<16xf32>
  %e = tensor.empty() : tensor<8x16xf32>
  %r = linalg.generic {indexing_maps = [#id2, affine_map<(i, j) -> (j)>, #id2],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x, %b : tensor<8x16xf32>, tensor<16xf32>) outs(%e : tensor<8x16xf32>) {
  ^bb0(%v: f32, %c: f32, %o: f32):
    %s = arith.addf %v, %c : f32
    %m = arith.mulf %s, %c : f32
    linalg.yield %m : f32
  } -> tensor<8x16xf32>
  return %r : tensor<8x16xf32>
}

// ResNet's stem at a small size: a padded 7x7 stride-2 convolution, bias and ReLU. Its
// 66x66 output does not divide into the 64x64 tiles, so the dispatch linearises its tile
// loops and recovers the indices with signed div/rem plus sign fix-ups (select): lifted
// by splitting those loops in mixed radix.
func.func @stem_conv(%x: tensor<1x3x132x132xf32>, %w: tensor<4x3x7x7xf32>,
                     %b: tensor<4xf32>) -> tensor<1x4x66x66xf32> {
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %x low[0, 0, 3, 3] high[0, 0, 3, 3] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x3x132x132xf32> to tensor<1x3x138x138xf32>
  %e = tensor.empty() : tensor<1x4x66x66xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x66x66xf32>) -> tensor<1x4x66x66xf32>
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%p, %w : tensor<1x3x138x138xf32>, tensor<4x3x7x7xf32>) outs(%z : tensor<1x4x66x66xf32>) -> tensor<1x4x66x66xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(n, c, h, w) -> (n, c, h, w)>, affine_map<(n, c, h, w) -> (c)>,
                                        affine_map<(n, c, h, w) -> (n, c, h, w)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c, %b : tensor<1x4x66x66xf32>, tensor<4xf32>) outs(%e : tensor<1x4x66x66xf32>) {
  ^bb0(%v: f32, %s: f32, %o: f32):
    %t = arith.addf %v, %s : f32
    %u = arith.maximumf %t, %zero : f32
    linalg.yield %u : f32
  } -> tensor<1x4x66x66xf32>
  return %r : tensor<1x4x66x66xf32>
}

// Philox-style counter hashing: a 64-bit counter loaded once (outside the loop) from an
// input plus the element index, truncated, widened, multiplied and shifted. The plan sees
// the counter as data; the run sees it concrete, so its index arithmetic must wrap and
// truncate like the VM's instead of growing as an affine form.
func.func @counter_hash(%key: tensor<2xi32>) -> tensor<8xi32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %k0 = tensor.extract %key[%c0] : tensor<2xi32>
  %k1 = tensor.extract %key[%c1] : tensor<2xi32>
  %lo = arith.extui %k0 : i32 to i64
  %hi = arith.extui %k1 : i32 to i64
  %c32 = arith.constant 32 : i64
  %hs = arith.shli %hi, %c32 : i64
  %ctr = arith.ori %hs, %lo : i64
  %e = tensor.empty() : tensor<8xi32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      outs(%e : tensor<8xi32>) {
  ^bb0(%o: i32):
    %i = linalg.index 0 : index
    %ii = arith.index_cast %i : index to i64
    %s = arith.addi %ctr, %ii : i64
    %t = arith.trunci %s : i64 to i32
    %u = arith.extui %t : i32 to i64
    %m = arith.constant 3528531795 : i64
    %p = arith.muli %u, %m : i64
    %sh = arith.shrui %p, %c32 : i64
    %h = arith.trunci %sh : i64 to i32
    %x = arith.xori %h, %t : i32
    linalg.yield %x : i32
  } -> tensor<8xi32>
  return %r : tensor<8xi32>
}
