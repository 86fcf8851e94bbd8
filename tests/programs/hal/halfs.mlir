// f16 and bf16 tensors. VMVX has no half-precision arithmetic (iree-compile rejects
// arith.addf/extf/truncf on f16 and bf16 for vmvx), so these programs move half
// tensors around and compute on their bits with integer ops.
func.func @f16_gather(%src: tensor<5x2xf16>, %idx: tensor<3x1xi32>) -> tensor<3x2xf16> {
  %empty = tensor.empty() : tensor<3x2xf16>
  %0 = iree_linalg_ext.gather dimension_map = [0] ins(%src, %idx : tensor<5x2xf16>, tensor<3x1xi32>)
       outs(%empty : tensor<3x2xf16>) -> tensor<3x2xf16>
  return %0 : tensor<3x2xf16>
}

// Negation by flipping the sign bit; also returns the raw bits.
func.func @f16_negate_bits(%a: tensor<6xf16>) -> (tensor<6xf16>, tensor<6xi16>) {
  %bits = arith.bitcast %a : tensor<6xf16> to tensor<6xi16>
  %sign = arith.constant dense<-32768> : tensor<6xi16>
  %x = arith.xori %bits, %sign : tensor<6xi16>
  %0 = arith.bitcast %x : tensor<6xi16> to tensor<6xf16>
  return %0, %bits : tensor<6xf16>, tensor<6xi16>
}

// f16 -> f32 in software: normals rebias the exponent, subnormals scale the
// mantissa by 2^-24, infinities and NaNs keep an all-ones exponent.
func.func @f16_to_f32(%a: tensor<10xf16>) -> tensor<10xf32> {
  %bits = arith.bitcast %a : tensor<10xf16> to tensor<10xi16>
  %empty = tensor.empty() : tensor<10xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
       ins(%bits : tensor<10xi16>) outs(%empty : tensor<10xf32>) {
    ^bb0(%h16: i16, %o: f32):
      %h = arith.extui %h16 : i16 to i32
      %c10 = arith.constant 10 : i32
      %c13 = arith.constant 13 : i32
      %c15 = arith.constant 15 : i32
      %c23 = arith.constant 23 : i32
      %c31 = arith.constant 31 : i32
      %c112 = arith.constant 112 : i32
      %c255 = arith.constant 255 : i32
      %m10 = arith.constant 1023 : i32
      %zero = arith.constant 0 : i32
      %s = arith.shrui %h, %c15 : i32
      %sign = arith.shli %s, %c31 : i32
      %es = arith.shrui %h, %c10 : i32
      %e = arith.andi %es, %c31 : i32
      %m = arith.andi %h, %m10 : i32
      %mant = arith.shli %m, %c13 : i32
      %e_normal = arith.addi %e, %c112 : i32
      %is_special = arith.cmpi eq, %e, %c31 : i32
      %e32 = arith.select %is_special, %c255, %e_normal : i32
      %eb = arith.shli %e32, %c23 : i32
      %em = arith.ori %eb, %mant : i32
      %nb = arith.ori %em, %sign : i32
      %normal = arith.bitcast %nb : i32 to f32
      %mf = arith.uitofp %m : i32 to f32
      %scale = arith.constant 5.9604644775390625e-8 : f32
      %sub_abs = arith.mulf %mf, %scale : f32
      %sub_neg = arith.negf %sub_abs : f32
      %is_neg = arith.cmpi ne, %s, %zero : i32
      %sub = arith.select %is_neg, %sub_neg, %sub_abs : f32
      %is_sub = arith.cmpi eq, %e, %zero : i32
      %r = arith.select %is_sub, %sub, %normal : f32
      linalg.yield %r : f32
  } -> tensor<10xf32>
  return %0 : tensor<10xf32>
}

// bf16 <-> f32 by shifting bits: widen, square in f32, truncate back to bf16.
func.func @bf16_square(%a: tensor<6xbf16>) -> (tensor<6xf32>, tensor<6xbf16>) {
  %bits = arith.bitcast %a : tensor<6xbf16> to tensor<6xi16>
  %wide = arith.extui %bits : tensor<6xi16> to tensor<6xi32>
  %c16 = arith.constant dense<16> : tensor<6xi32>
  %shifted = arith.shli %wide, %c16 : tensor<6xi32>
  %f = arith.bitcast %shifted : tensor<6xi32> to tensor<6xf32>
  %sq = arith.mulf %f, %f : tensor<6xf32>
  %sq_bits = arith.bitcast %sq : tensor<6xf32> to tensor<6xi32>
  %high = arith.shrui %sq_bits, %c16 : tensor<6xi32>
  %narrow = arith.trunci %high : tensor<6xi32> to tensor<6xi16>
  %0 = arith.bitcast %narrow : tensor<6xi16> to tensor<6xbf16>
  return %f, %0 : tensor<6xf32>, tensor<6xbf16>
}

// Dynamically shaped f16 rows selected by a computed index (reversed rows).
func.func @f16_reverse_rows(%a: tensor<?x3xf16>) -> tensor<?x3xf16> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = tensor.dim %a, %c0 : tensor<?x3xf16>
  %empty = tensor.empty(%n) : tensor<?x3xf16>
  %0 = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
       outs(%empty : tensor<?x3xf16>) {
    ^bb0(%o: f16):
      %i = linalg.index 0 : index
      %j = linalg.index 1 : index
      %last = arith.subi %n, %c1 : index
      %r = arith.subi %last, %i : index
      %v = tensor.extract %a[%r, %j] : tensor<?x3xf16>
      linalg.yield %v : f16
  } -> tensor<?x3xf16>
  return %0 : tensor<?x3xf16>
}
