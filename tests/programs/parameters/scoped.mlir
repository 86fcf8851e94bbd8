// Globals loaded from two parameter scopes (io_parameters.load per scope at __init).
// Used by tests/test_parameters.py with --parameters=model=... --parameters=extra=...
util.global private @weight = #flow.parameter.named<"model"::"weight"> : tensor<4xf32>
util.global private @bias = #flow.parameter.named<"model"::"bias"> : tensor<4xf32>
util.global private @table = #flow.parameter.named<"extra"::"table"> : tensor<2x3xi32>

func.func @predict(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<2x3xi32>) {
  %w = util.global.load @weight : tensor<4xf32>
  %b = util.global.load @bias : tensor<4xf32>
  %t = util.global.load @table : tensor<2x3xi32>
  %init = tensor.empty() : tensor<4xf32>
  %y = linalg.generic {
      indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>,
                       affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
      iterator_types = ["parallel"]}
      ins(%x, %w, %b : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%a: f32, %ww: f32, %bb: f32, %out: f32):
    %m = arith.mulf %a, %ww : f32
    %s = arith.addf %m, %bb : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %y, %t : tensor<4xf32>, tensor<2x3xi32>
}
