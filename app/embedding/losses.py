"""The two kernels of the skip-gram loss, each with a hand-written backward, and their work buffers.

`WindowedSkipGramLoss` scores every window of every walk: the embeddings of a walk and its negatives are
gathered once and all its windows are scored by one batched matrix product (two more for the gradient),
where PyTorch Geometric gathers every window apart; on a CPU the walks of a batch go through it in chunks
that stay in cache (`WalkChunks`). `pair_table_loss` takes the same loss from a table of pair weights, all
node pairs scored by one product of the embedding table with itself: on a small graph a batch holds more
window pairs than the graph has node pairs. Both reuse their buffers from batch to batch (`Scratch`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor


class Scratch:
    """Work buffers that the loss reuses from one batch to the next, by name.

    The buffers of a batch are a few MB; allocated anew for every batch, glibc hands them out as fresh
    pages and gives them back at the end of the batch, so every batch pays a page fault per 4 kB touched:
    on g-sqlalchemy (2-core CPU) 800-1,300 faults and 2-4 ms of a 5-10 ms optimiser step. A buffer is
    grown when a batch needs more and never shrinks; it lives as long as the model. Only scratch space
    goes here, nothing that outlives the call that fills it (a forward's saved tensors do not).
    """

    def __init__(self) -> None:
        self._buffers: dict[str, Tensor] = {}

    def take(self, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """A tensor of `shape` with `like`'s type and device; its contents are whatever was left there."""
        numel = math.prod(shape)
        buffer = self._buffers.get(name)
        if (
            buffer is None
            or buffer.numel() < numel
            or buffer.dtype != like.dtype
            or buffer.device != like.device
        ):
            buffer = self._buffers[name] = like.new_empty(numel)
        return buffer[:numel].view(shape)


class WalkChunks:
    """Chunks of a batch's walks with the embedding rows of their window centres and targets.

    `rows` is the table the rows are gathered from (in the product type); `nodes` [B, 1 + T] holds per walk
    its nodes 0..L followed by its negatives: the first C nodes are the window centres, and the T nodes
    after node 0 the targets (contexts, then negatives). The rows are gathered into chunk-sized buffers
    from `scratch`, which every chunk and every batch reuses; on a CPU a chunk of `cpu_chunk_walks` walks
    stays in cache from its gather to its scatter, on a GPU the whole batch is one chunk. In float32 a
    walk's rows are gathered once and centres and targets are views of them; bfloat16 products copy
    strided operands first, so in bfloat16 the two are gathered apart, each contiguous.
    """

    def __init__(
        self, rows: Tensor, nodes: Tensor, centres_count: int, scratch: Scratch, cpu_chunk_walks: int
    ) -> None:
        self.rows, self.nodes, self.centres_count = rows, nodes, centres_count
        walks, width = nodes.shape
        self.size = walks if rows.device.type == "cuda" else max(1, min(walks, cpu_chunk_walks))
        self.shared = rows.dtype == torch.float32
        dim, size = rows.shape[1], self.size
        if self.shared:
            self.walk_rows = scratch.take("walk_rows", (size, width, dim), rows)
        else:
            self.centre_rows = scratch.take("centre_rows", (size, centres_count, dim), rows)
            self.target_rows = scratch.take("target_rows", (size, width - 1, dim), rows)

    def __iter__(self) -> Iterator[tuple[slice, Tensor, Tensor]]:
        """(walks, centres [n, C, D], targets [n, T, D]) per chunk; each chunk overwrites the last."""
        rows, nodes, count, dim = self.rows, self.nodes, self.centres_count, self.rows.shape[1]
        for start in range(0, nodes.shape[0], self.size):
            walks = slice(start, min(start + self.size, nodes.shape[0]))
            chunk = nodes[walks]
            n = chunk.shape[0]
            if self.shared:
                gathered = self.walk_rows[:n]
                torch.index_select(rows, 0, chunk.reshape(-1), out=gathered.view(-1, dim))
                yield walks, gathered[:, :count], gathered[:, 1:]
            else:
                centres, targets = self.centre_rows[:n], self.target_rows[:n]
                torch.index_select(rows, 0, chunk[:, :count].reshape(-1), out=centres.view(-1, dim))
                torch.index_select(rows, 0, chunk[:, 1:].reshape(-1), out=targets.view(-1, dim))
                yield walks, centres, targets


class WindowedSkipGramLoss(torch.autograd.Function):
    """Skip-gram loss of whole walks with a hand-written backward: three batched products per chunk.

    table: [N, D] embedding table; nodes: [B, 1 + T] (see `WalkChunks`), T = L * (1 + R) targets: walk
    nodes 1..L, then R rounds of L negatives; centre_weights: [B, C], the weight of each window;
    slot_weights, slot_signs: [1 + R], the weight and sign of the pairs of each slot (slot 0: the contexts,
    sign +1; slot r: negative round r, sign -1). Window i pairs centre i with the W = `window` targets
    i .. i + W - 1 of every slot. The loss is sum(centre weight * slot weight * softplus(-sign * score)).
    A pair's score is the product of its rows, or `exp(log_temperature) * product + bias` when those two
    scalars are given (None: plain products). `product_dtype`: the type of the products (None: the table's);
    `cpu_chunk_walks`: walks per chunk on a CPU (`WalkChunks`); `scratch` lends the work buffers
    (`Scratch`; None: fresh ones for this call).

    Every centre of a walk is multiplied with every target by one batched product ([C, T] scores, two more
    products for the gradient); of those scores only the band of the windows is used, [1 + R, C, W] (45%
    with the defaults), and everything else is computed on the band alone, taken as a strided view. The
    gradient is scattered back with `index_add_`, which on a CPU is several times faster than embedding's
    backward. With `product_dtype` (bfloat16) the rows are gathered and multiplied in that type; scores
    and gradients are float32 again before anything is summed. Only the signed band scores are kept for
    the backward, which gathers the rows again.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        table: Tensor,
        nodes: Tensor,
        centre_weights: Tensor,
        slot_weights: Tensor,
        slot_signs: Tensor,
        window: int,
        log_temperature: Tensor | None,
        bias: Tensor | None,
        product_dtype: torch.dtype | None,
        cpu_chunk_walks: int,
        scratch: Scratch | None = None,
    ) -> Tensor:
        rows = table if product_dtype is None else table.to(product_dtype)
        walks, centres_count = centre_weights.shape
        targets_count = nodes.shape[1] - 1
        slots = slot_weights.numel()
        scratch = scratch or Scratch()
        chunks = WalkChunks(rows, nodes, centres_count, scratch, cpu_chunk_walks)
        products = scratch.take("scores", (chunks.size, centres_count, targets_count), rows)
        signed = table.new_empty(walks, slots, centres_count, window)
        signs = slot_signs.view(-1, 1, 1)
        affine = log_temperature is not None
        if affine:
            temperature = log_temperature.exp()
            scale, shift = temperature * signs, bias * signs
        # weight of each window of each slot: [B, 1 + R, C, 1]
        weights = (centre_weights.unsqueeze(1) * slot_weights.view(1, -1, 1)).unsqueeze(3)
        loss = table.new_zeros(())
        for walk_slice, centres, targets in chunks:
            scores = products[: centres.shape[0]]
            torch.bmm(centres, targets.transpose(1, 2), out=scores)
            band = _band(scores, slots, window)
            chunk_signed = signed[walk_slice]
            if affine:  # (temperature * product + bias) * sign in one pass
                torch.addcmul(shift, band, scale, out=chunk_signed)
            else:
                torch.mul(band, signs, out=chunk_signed)
            # softplus(-x) = -logsigmoid(x)
            loss -= F.logsigmoid(chunk_signed).mul_(weights[walk_slice]).sum()
        saved = (temperature, bias) if affine else ()
        ctx.save_for_backward(rows, nodes, signed, weights, signs, *saved)
        ctx.affine, ctx.scratch, ctx.cpu_chunk_walks = affine, scratch, cpu_chunk_walks
        ctx.table_shape, ctx.table_dtype = table.shape, table.dtype
        ctx.targets_count = targets_count
        return loss

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        rows, nodes, signed, weights, signs, *affine = ctx.saved_tensors
        _, slots, centres_count, window = signed.shape
        targets_count, dim = ctx.targets_count, rows.shape[1]
        chunks = WalkChunks(rows, nodes, centres_count, ctx.scratch, ctx.cpu_chunk_walks)
        grad_table = torch.zeros(ctx.table_shape, dtype=ctx.table_dtype, device=rows.device)
        # d softplus(-sign * s) / ds = -sign * sigmoid(-sign * s)
        factor = signs * -grad_output
        if ctx.affine:
            temperature, bias = affine
            factor = factor * temperature
            grad_bias = grad_s_times_s = grad_output.new_zeros(())
        size = chunks.size
        # the band is all that is written: the scores outside it keep their zero gradient
        grad_scores = ctx.scratch.take("scores", (size, centres_count, targets_count), rows).zero_()
        grad_centres = ctx.scratch.take("grad_centres", (size, centres_count, dim), rows)
        grad_targets = ctx.scratch.take("grad_targets", (size, targets_count, dim), rows)
        grad_rows = ctx.scratch.take("grad_rows", (size, nodes.shape[1], dim), grad_table)
        for walk_slice, centres, targets in chunks:
            n = centres.shape[0]
            chunk_signed = signed[walk_slice]
            slopes = torch.sigmoid(chunk_signed.neg()).mul_(weights[walk_slice])
            if ctx.affine:
                # with s = temperature * product + bias: dL/dlog(temperature) = sum dL/ds * (s - bias),
                # and dL/ds * s = -grad * slope * signed, since sign * sign = 1 (grad applied at the end)
                grad_s_times_s = grad_s_times_s - torch.vdot(slopes.view(-1), chunk_signed.view(-1))
            slopes.mul_(factor)
            if ctx.affine:
                grad_bias = grad_bias + slopes.sum()
            chunk_scores = grad_scores[:n]
            _band(chunk_scores, slots, window).copy_(slopes)
            torch.bmm(chunk_scores, targets, out=grad_centres[:n])
            torch.bmm(chunk_scores.transpose(1, 2), centres, out=grad_targets[:n])
            # a walk node that is both a centre and a target gets one row: node 0 is only a centre,
            # nodes 1 .. C - 1 are both, the rest only targets
            chunk_rows = grad_rows[:n]
            chunk_rows[:, 0].copy_(grad_centres[:n, 0])
            chunk_rows[:, 1:].copy_(grad_targets[:n])
            chunk_rows[:, 1:centres_count].add_(grad_centres[:n, 1:])
            grad_table.index_add_(0, nodes[walk_slice].reshape(-1), chunk_rows.view(-1, dim))
        grad_log_temperature = None
        if ctx.affine:
            # the gradients were taken with respect to temperature * product: undo that for the bias
            grad_bias = grad_bias / temperature
            grad_log_temperature = grad_output * grad_s_times_s - bias * grad_bias
        else:
            grad_bias = None
        return grad_table, None, None, None, None, None, grad_log_temperature, grad_bias, None, None, None


def pair_table_loss(
    weight: Tensor,
    pairs: Tensor,
    log_temperature: Tensor | None,
    bias: Tensor | None,
    scratch: Scratch,
    gradients: bool = True,
) -> tuple[Tensor, list[Tensor]]:
    """Skip-gram loss of a batch from its table of pair weights, and its gradients: one product of the table
    with itself.

    weight: [N, D] embedding table; pairs: [2, N, N], the summed weights of the batch's positive pairs
    (centre u, context v) at [0, u, v] and of its negative pairs (centre u, noise v) at [1, u, v]. With P
    and Q the two and s = table @ table.T the scores of all node pairs, the loss is
    sum(P * softplus(-s) + Q * softplus(s)): what `WindowedSkipGramLoss` sums pair by pair, with every
    pair of nodes scored once however often the batch holds it. Since softplus(s) = softplus(-s) + s, it
    is sum(Q * s) - sum((P + Q) * logsigmoid(s)), and its gradient with respect to s is
    G = (P + Q) * sigmoid(s) - P. When `log_temperature` and `bias` are given the table is `weight` with
    unit rows and the scores are `exp(log_temperature) * s + bias` (cosine scores); otherwise the table is
    `weight` and the scores are s.

    Returns the loss and, with `gradients`, those of `weight` (then of `log_temperature` and `bias`),
    taken while the [N, N] scores are at hand; every [N, N] array, `pairs` included (it is overwritten),
    is a work buffer from `scratch` that the next batch reuses.
    """
    affine = log_temperature is not None
    table = weight
    if affine:  # as F.normalize: rows over max(norm, 1e-12)
        norms = torch.linalg.vector_norm(weight, dim=1, keepdim=True).clamp_min_(1e-12)
        table = weight / norms
    size = (table.shape[0], table.shape[0])
    products = torch.mm(table, table.T, out=scratch.take("pair_products", size, table))
    scores = products
    if affine:
        temperature = log_temperature.exp()
        scores = torch.addcmul(bias, products, temperature, out=scratch.take("pair_scores", size, table))
    positive, negative = pairs
    loss = torch.vdot(negative.view(-1), scores.view(-1))
    total = negative.add_(positive)
    work = scratch.take("pair_work", size, table)
    loss = loss - torch.vdot(total.view(-1), F.logsigmoid(scores, out=work).view(-1))
    if not gradients:
        return loss, []
    grad_scores = torch.sigmoid(scores, out=work).mul_(total).sub_(positive)
    # score (u, v) holds row u and row v: the table's gradient gathers both ways
    grad_table = torch.mm(grad_scores, table).addmm_(grad_scores.T, table)
    if not affine:
        return loss, [grad_table]
    grad_log_temperature = torch.vdot(grad_scores.view(-1), products.view(-1)) * temperature
    grad_table.mul_(temperature)
    # through the normalisation: the part of each row's gradient along the row drops out
    along = (grad_table * table).sum(1, keepdim=True)
    grad_weight = grad_table.addcmul_(table, along, value=-1).div_(norms)
    return loss, [grad_weight, grad_log_temperature, grad_scores.sum()]


class PairTableLoss(torch.autograd.Function):
    """`pair_table_loss` for autograd: the gradients are taken in the forward and kept for the backward."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        weight: Tensor,
        pairs: Tensor,
        log_temperature: Tensor | None,
        bias: Tensor | None,
        scratch: Scratch,
    ) -> Tensor:
        loss, grads = pair_table_loss(
            weight, pairs, log_temperature, bias, scratch, gradients=any(ctx.needs_input_grad)
        )
        ctx.save_for_backward(*grads)
        return loss

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        grads = [grad * grad_output for grad in ctx.saved_tensors]
        if len(grads) == 1:
            return grads[0], None, None, None, None
        grad_table, grad_log_temperature, grad_bias = grads
        return grad_table, None, grad_log_temperature, grad_bias, None


def window_targets(targets: Tensor, slots: int, centres_count: int, window: int) -> Tensor:
    """The [B, slots, C, W] view of [B, T] targets (`slots` runs of T / slots) that holds, per slot, the
    targets i .. i + W - 1 of the window of centre i."""
    walks, targets_count = targets.shape
    return targets.as_strided(
        (walks, slots, centres_count, window),
        (targets.stride(0), targets_count // slots, 1, 1),
        targets.storage_offset(),
    )


def _band(scores: Tensor, slots: int, window: int) -> Tensor:
    """The [n, slots, C, W] view of [n, C, T] scores that holds the pairs of the windows: centre i with
    targets i .. i + W - 1 of each slot of T / slots targets."""
    walks, centres_count, targets_count = scores.shape
    stride = scores.stride()
    return scores.as_strided(
        (walks, slots, centres_count, window),
        (stride[0], targets_count // slots, stride[1] + 1, 1),
        scores.storage_offset(),
    )
