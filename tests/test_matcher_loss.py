"""detr_nb.matcher and detr_nb.loss: the official fixture, optimality against brute force, edge cases (no targets,
degenerate boxes, mixed precision), exact gradient accumulation, num_boxes under torch.distributed (2 gloo
processes), and on a GPU the number of host-device synchronizations per criterion call."""
import itertools, os, socket, warnings

import pytest, torch
import torch.multiprocessing as mp
from detr_nb.matcher import HungarianMatcher
from detr_nb.loss import SetCriterion, count_boxes

from real_data import REFERENCE, REFERENCE_WHERE  # noqa: E402
FIXTURE = REFERENCE / 'official_parity_tiny.pt'
needs_fixture = pytest.mark.skipif(not FIXTURE.is_file(), reason=REFERENCE_WHERE)


def rand_case(g, B, Q, C, ns, layers=1, grad=False):
    outs = [{'pred_logits': (torch.randn(B, Q, C + 1, generator=g) * 2).requires_grad_(grad),
             'pred_boxes': (torch.rand(B, Q, 4, generator=g) * 0.6 + 0.2).requires_grad_(grad)} for _ in range(layers)]
    tg = [{'labels': torch.randint(0, C, (n,), generator=g),
           'boxes': torch.cat([torch.rand(n, 2, generator=g) * 0.6 + 0.2, torch.rand(n, 2, generator=g) * 0.3 + 0.02],
                              1)}
          for n in ns]
    return {**outs[-1], 'aux_outputs': outs[:-1]}, tg


def brute_force(c):
    "Minimum total cost over all injective assignments of the smaller side of c [Q, N]."
    if c.shape[0] < c.shape[1]:
        c = c.T
    Q, N = c.shape
    c = c.tolist()
    return min((sum(c[p[j]][j] for j in range(N)) for p in itertools.permutations(range(Q), N)), default=0.)


# ---------------------------------------------------------------- the official fixture
@needs_fixture
def test_fixture_match():
    fx = torch.load(FIXTURE, weights_only=True)
    got = HungarianMatcher(1, 5, 2)(fx['outputs'], fx['targets'])
    assert len(got) == len(fx['match'])
    for (q0, t0), (q1, t1) in zip(got, fx['match']):
        assert q0.dtype == t0.dtype == torch.int64 and q0.device.type == 'cpu'
        assert torch.equal(q0, q1) and torch.equal(t0, t1)


@needs_fixture
def test_fixture_losses():
    fx = torch.load(FIXTURE, weights_only=True)
    got = SetCriterion(91, HungarianMatcher(1, 5, 2), eos_coef=0.1)(fx['outputs'], fx['targets'])
    assert list(got) == list(fx['losses'])  # same names, same order
    for k, ref in fx['losses'].items():
        assert got[k].dtype == torch.float32
        assert abs(float(got[k]) - float(ref)) <= 1e-5, (k, float(got[k]), float(ref))


# ---------------------------------------------------------------- matcher
@pytest.mark.parametrize('seed', range(4))
def test_matcher_optimal_vs_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    m = HungarianMatcher()
    for _ in range(25):
        B, Q = 3, int(torch.randint(1, 7, (1,), generator=g))
        ns = torch.randint(0, 5, (B,), generator=g).tolist()
        out, tg = rand_case(g, B, Q, 5, ns)
        cost, sizes = m.cost_matrix(out['pred_logits'][None], out['pred_boxes'][None], tg)
        for b, (q, t) in enumerate(m(out, tg)):
            c = cost[0, b, :, :sizes[b]]
            assert len(q) == len(t) == min(Q, ns[b])
            assert len(set(q.tolist())) == len(q) and len(set(t.tolist())) == len(t)
            assert q.tolist() == sorted(q.tolist())
            assert abs(float(c[q, t].sum()) - brute_force(c)) < 1e-4


def test_matcher_layers_equal_single_layer_calls():
    g = torch.Generator().manual_seed(0)
    out, tg = rand_case(g, 3, 8, 6, [2, 0, 5], layers=4)
    layers = out['aux_outputs'] + [out]
    lg = torch.stack([o['pred_logits'] for o in layers])
    bx = torch.stack([o['pred_boxes'] for o in layers])
    m = HungarianMatcher()
    for l, res in enumerate(m.match_layers(lg, bx, tg)):
        for (q0, t0), (q1, t1) in zip(res, m(layers[l], tg)):
            assert torch.equal(q0, q1) and torch.equal(t0, t1)


def test_matcher_edge_cases():
    g = torch.Generator().manual_seed(0)
    m = HungarianMatcher()
    out, tg = rand_case(g, 2, 4, 3, [0, 0])
    assert all(len(q) == len(t) == 0 for q, t in m(out, tg))
    out, tg = rand_case(g, 2, 4, 3, [7, 1])  # more targets than queries
    (q, t), _ = m(out, tg)
    assert q.tolist() == [0, 1, 2, 3] and len(set(t.tolist())) == 4
    half = {k: v.half() for k, v in out.items() if k != 'aux_outputs'}
    assert m.cost_matrix(half['pred_logits'][None], half['pred_boxes'][None], tg)[0].dtype == torch.float32
    with pytest.raises(ValueError, match='label 3 is outside'):
        m(out, [tg[0], {'labels': torch.tensor([3]), 'boxes': torch.rand(1, 4)}])
    with pytest.raises(ValueError, match='got 1 targets'):
        m(out, tg[:1])


# ---------------------------------------------------------------- criterion
def test_no_targets_and_degenerate_boxes_are_finite():
    g = torch.Generator().manual_seed(1)
    crit = SetCriterion(5)
    for ns in ([0, 0, 0], [0, 3, 0], [2, 1, 4]):
        out, tg = rand_case(g, 3, 6, 5, ns, layers=3)
        for lay in out['aux_outputs'] + [out]:
            bx = lay['pred_boxes'].clone()
            bx[0, :, 2] = 0
            bx[1, :, 3] = 0
            bx[2, :2] = 0  # zero width, zero height, all-zero boxes
            lay['pred_boxes'] = bx.requires_grad_()
            lay['pred_logits'].requires_grad_()
        losses = crit(out, tg)
        assert all(torch.isfinite(v) for v in losses.values()), (ns, losses)
        if sum(ns) == 0:
            assert float(losses['loss_bbox'].detach()) == float(losses['loss_giou'].detach()) == 0.
        crit.total_loss(losses).backward()
        for lay in out['aux_outputs'] + [out]:
            assert torch.isfinite(lay['pred_boxes'].grad).all() and torch.isfinite(lay['pred_logits'].grad).all()


def test_bf16_outputs_give_fp32_losses():
    g = torch.Generator().manual_seed(2)
    out, tg = rand_case(g, 2, 6, 5, [2, 3], layers=2)
    cast = lambda o, dt: {'pred_logits': o['pred_logits'].to(dt), 'pred_boxes': o['pred_boxes'].to(dt),
                          'aux_outputs': [{k: v.to(dt) for k, v in a.items()} for a in o.get('aux_outputs', [])]}
    crit = SetCriterion(5)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        lh = crit(cast(out, torch.bfloat16), tg)
    lf = crit(cast(cast(out, torch.bfloat16), torch.float32), tg)
    for k in lf:
        assert lh[k].dtype == torch.float32 and abs(float(lh[k]) - float(lf[k])) < 1e-6


@pytest.mark.parametrize('ns', [[5, 0, 1, 6], [0, 0, 0, 3], [0, 0, 0, 0]])
def test_gradient_accumulation_is_exact(ns):
    g = torch.Generator().manual_seed(3)
    out, tg = rand_case(g, 4, 8, 5, ns, layers=3, grad=True)
    leaves = [out['pred_logits'], out['pred_boxes']] + [v for a in out['aux_outputs'] for v in a.values()]
    split = lambda s: {'pred_logits': out['pred_logits'][s], 'pred_boxes': out['pred_boxes'][s],
                       'aux_outputs': [{k: v[s] for k, v in a.items()} for a in out['aux_outputs']]}
    crit = SetCriterion(5)
    full = crit.total_loss(crit(out, tg))
    norms = crit.normalizers(tg, num_queries=8)
    parts = [crit.total_loss(crit(split(s), tg[s], **norms)) for s in (slice(0, 1), slice(1, 3), slice(3, 4))]
    acc = sum(parts)
    gf = torch.autograd.grad(full, leaves, retain_graph=True)
    ga = torch.autograd.grad(acc, leaves)
    assert abs(float(acc.detach()) - float(full.detach())) < 1e-5
    for a, b in zip(ga, gf):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_num_boxes_override_is_used_as_is():
    g = torch.Generator().manual_seed(4)
    out, tg = rand_case(g, 2, 6, 5, [2, 3])
    crit = SetCriterion(5)
    a, b = crit(out, tg), crit(out, tg, num_boxes=10.)
    assert abs(float(b['loss_bbox']) * 10 - float(a['loss_bbox']) * 5) < 1e-5
    assert abs(float(b['loss_giou']) * 10 - float(a['loss_giou']) * 5) < 1e-5
    assert float(b['loss_ce']) == float(a['loss_ce'])
    assert count_boxes(tg) == 5. and count_boxes([{'labels': torch.zeros(0)}]) == 1.
    assert crit.normalizers(tg, num_queries=6) == pytest.approx({'num_boxes': 5., 'ce_norm': 5 + 0.1 * 7})


# ---------------------------------------------------------------- torch.distributed (2 gloo processes)
def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _dist_worker(rank, world, port, cases, q):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.distributed.init_process_group('gloo', rank=rank, world_size=world)
    try:
        res = []
        for ns in cases:
            tg = [{'labels': torch.zeros(n, dtype=torch.int64), 'boxes': torch.rand(n, 4)} for n in ns[rank]]
            norms = SetCriterion(3).normalizers(tg, num_queries=4)
            res.append((float(count_boxes(tg)), float(norms['num_boxes']), float(norms['ce_norm'])))
        q.put((rank, res))
    finally:
        torch.distributed.destroy_process_group()


def test_count_boxes_is_averaged_across_processes():
    # per rank: the images' box counts; expected: the mean over the 2 ranks, at least 1
    # and the classification normalizer: per image min(n, Q) + 0.1 * (Q - min(n, Q)) with Q = 4, summed, mean over ranks
    cases = [[[3, 2], [1, 0]], [[0], [1]], [[0, 0], []]]
    expected = [(3., 3., (3.1 + 2.2 + 1.3 + 0.4) / 2), (1., 1., (0.4 + 1.3) / 2), (1., 1., 0.4)]
    method = 'spawn' if torch.cuda.is_initialized() else 'fork'  # fork: no re-import of torch in the children
    ctx = mp.get_context(method)
    q = ctx.Queue()
    mp.start_processes(_dist_worker, args=(2, _free_port(), cases, q), nprocs=2, join=True, start_method=method)
    got = dict(q.get(timeout=60) for _ in range(2))
    for rank in (0, 1):
        for g, e in zip(got[rank], expected):
            assert g == pytest.approx(e, rel=1e-6), (rank, g, e)


# ---------------------------------------------------------------- GPU: synchronizations
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_one_synchronization_per_criterion_call_on_gpu():
    g = torch.Generator().manual_seed(5)
    out, tg = rand_case(g, 4, 100, 91, [7, 0, 12, 3], layers=6)
    crit = SetCriterion(91)
    ref = crit(out, tg)
    dev = lambda o: {'pred_logits': o['pred_logits'].cuda(), 'pred_boxes': o['pred_boxes'].cuda(),
                     'aux_outputs': [{k: v.cuda() for k, v in a.items()} for a in o['aux_outputs']]}
    out_d, tg_d, crit_d = dev(out), [{k: v.cuda() for k, v in t.items()} for t in tg], SetCriterion(91).cuda()
    crit_d(out_d, tg_d)
    torch.cuda.synchronize()  # warm-up
    torch.cuda.set_sync_debug_mode('warn')
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            got = crit_d(out_d, tg_d)
    finally:
        torch.cuda.set_sync_debug_mode('default')
    syncs = [str(x.message) for x in w if 'synchroniz' in str(x.message)]
    assert len(syncs) == 1, syncs  # the copy of the cost matrices of every layer to the CPU
    for k in ref:
        assert abs(float(got[k]) - float(ref[k])) < 1e-4, k
