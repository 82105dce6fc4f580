// The whole engine in one include.
#pragma once

#include "engine/blas.hpp"
#include "engine/dropout.hpp"
#include "engine/elementwise.hpp"
#include "engine/embedding.hpp"
#include "engine/gradcheck.hpp"
#include "engine/layer_norm.hpp"
#include "engine/mask.hpp"
#include "engine/matmul.hpp"
#include "engine/memory.hpp"
#include "engine/random.hpp"
#include "engine/reduce.hpp"
#include "engine/shape_ops.hpp"
#include "engine/softmax.hpp"
#include "engine/tensor.hpp"
