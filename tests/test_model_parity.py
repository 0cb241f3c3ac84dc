"""detr_nb.model against the official facebookresearch/detr model: the parity fixture, the official key lists,
partial loads (fine-tuning, backbone transfer) and torchvision ResNet weight files."""
import importlib.util, json

import pytest, torch, torchvision
from detr_nb.model import DETR, DETRConfig, load_official, load_backbone_weights, resnet_weights_url, infer_config

from real_data import REFERENCE as SHARED, REFERENCE_WHERE  # noqa: E402
FIXTURE, KEYS = SHARED / 'official_parity_tiny.pt', SHARED / 'official_detr_state_dict_keys.json'
needs_shared = pytest.mark.skipif(not (FIXTURE.is_file() and KEYS.is_file()
                                        and (SHARED / 'seeded_weights.py').is_file()), reason=REFERENCE_WHERE)
# heads and dilation are not visible in the shapes: the configurations of the key list (see its _about)
OVERRIDES = {'r50': {}, 'r101': {}, 'r50_dc5': {'dilation': True}, 'r18_small': {'nheads': 4}, 'tiny': {'nheads': 2}}
EXPECTED = {'r50': dict(backbone='resnet50', hidden_dim=256, enc_layers=6, dec_layers=6, dim_feedforward=2048,
                        num_queries=100),
            'r101': dict(backbone='resnet101', hidden_dim=256, enc_layers=6, dec_layers=6, dim_feedforward=2048,
                         num_queries=100),
            'r50_dc5': dict(backbone='resnet50', hidden_dim=256, enc_layers=6, dec_layers=6, dim_feedforward=2048,
                            num_queries=100),
            'r18_small': dict(backbone='resnet18', hidden_dim=64, enc_layers=2, dec_layers=3, dim_feedforward=128,
                              num_queries=20),
            'tiny': dict(backbone='resnet18', hidden_dim=32, enc_layers=1, dec_layers=2, dim_feedforward=96,
                         num_queries=10)}


@pytest.fixture(scope='module')
def seeded():
    spec = importlib.util.spec_from_file_location('seeded_weights', SHARED / 'seeded_weights.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def keys():
    return {k: v for k, v in json.loads(KEYS.read_text()).items() if not k.startswith('_')}


@needs_shared
def test_official_fixture_parity(seeded, keys):
    fx = torch.load(FIXTURE, weights_only=True)
    model = load_official({'model': seeded.seeded_state_dict(keys['tiny'], salt='shared-')}, nheads=2).eval()
    assert model.load_report.complete
    with torch.no_grad():
        out = model(fx['images'])
    ref = fx['outputs']
    for k in ('pred_logits', 'pred_boxes'):
        assert out[k].shape == ref[k].shape
        torch.testing.assert_close(out[k], ref[k], atol=1e-4, rtol=0)
    assert len(out['aux_outputs']) == len(ref['aux_outputs']) == 1
    for a, r in zip(out['aux_outputs'], ref['aux_outputs']):
        for k in ('pred_logits', 'pred_boxes'):
            torch.testing.assert_close(a[k], r[k], atol=1e-4, rtol=0)
    # the same through a padded batch + mask
    with torch.no_grad():
        out2 = model(*_pad(fx['images']))
    torch.testing.assert_close(out2['pred_boxes'], ref['pred_boxes'], atol=1e-4, rtol=0)


def _pad(images):
    h, w = max(i.shape[1] for i in images), max(i.shape[2] for i in images)
    x, m = torch.zeros(len(images), 3, h, w), torch.ones(len(images), h, w, dtype=torch.bool)
    for i, im in enumerate(images):
        x[i, :, :im.shape[1], :im.shape[2]] = im
        m[i, :im.shape[1], :im.shape[2]] = False
    return x, m


@needs_shared
@pytest.mark.parametrize('name', list(OVERRIDES))
def test_key_list_round_trip(name, seeded, keys):
    "Our state dict has the official key names, order and shapes; official weights load strictly."
    ref = keys[name]
    cfg = infer_config({k: torch.empty(s) for k, s in ref.items()}, **OVERRIDES[name])
    for k, v in EXPECTED[name].items():
        assert getattr(cfg, k) == v, (name, k)
    assert (cfg.num_classes, cfg.position_embedding, cfg.pre_norm) == (91, 'sine', False)
    sd = seeded.seeded_state_dict(ref, salt='shared-')
    model = load_official({'model': sd}, **OVERRIDES[name])
    own = model.state_dict()
    assert list(own) == list(ref)
    assert {k: list(v.shape) for k, v in own.items()} == ref
    assert model.load_report.complete and len(model.load_report.transferred) == len(ref)
    probe = [k for k in ref if k.endswith(('running_var', 'in_proj_weight', 'class_embed.bias'))][:5]
    for k in probe:
        assert torch.equal(own[k], sd[k]), k


def test_learned_and_pre_norm_are_inferred():
    m = DETR(DETRConfig(backbone='resnet18', hidden_dim=32, nheads=2, enc_layers=1, dec_layers=1, dim_feedforward=64,
                        num_queries=5, num_classes=3, position_embedding='learned', pre_norm=True))
    sd = m.state_dict()
    assert 'backbone.1.row_embed.weight' in sd and 'transformer.encoder.norm.weight' in sd
    m2 = load_official(sd, nheads=2)
    assert (m2.config.position_embedding, m2.config.pre_norm, m2.config.num_classes) == ('learned', True, 3)
    assert m2.load_report.complete


@needs_shared
def test_fine_tune_num_classes(seeded, keys):
    sd = seeded.seeded_state_dict(keys['tiny'], salt='shared-')
    with pytest.warns(UserWarning, match='num_classes: 91 -> 5'):
        model = load_official({'model': sd}, nheads=2, num_classes=5)
    rep = model.load_report
    assert rep.initialized == ['class_embed.weight', 'class_embed.bias']
    assert rep.unused == ['class_embed.weight', 'class_embed.bias']
    assert len(rep.transferred) == len(sd) - 2
    assert model.class_embed.weight.shape == (6, 32)
    own = model.state_dict()
    assert all(torch.equal(own[k], sd[k]) for k in rep.transferred)
    assert 'class_embed' in str(rep)
    with torch.no_grad():
        out = model.eval()([torch.randn(3, 64, 80)])
    assert out['pred_logits'].shape == (1, 10, 6)


@needs_shared
def test_r50_to_r101_transfer(seeded, keys):
    sd = seeded.seeded_state_dict(keys['r50'], salt='shared-')
    with pytest.warns(UserWarning, match='backbone: resnet50 -> resnet101'):
        model = load_official({'model': sd}, backbone='resnet101')
    rep = model.load_report
    assert model.config.backbone == 'resnet101' and rep.unused == []
    assert len(rep.transferred) == len(sd)                      # every R50 tensor has a place in R101
    assert len(rep.transferred) + len(rep.initialized) == len(keys['r101'])
    assert rep.initialized and all(k.startswith('backbone.0.body.layer3.') for k in rep.initialized)
    blocks = {int(k.split('.')[4]) for k in rep.initialized}
    assert blocks == set(range(6, 23))                           # layer3 blocks 6..22 exist only in R101
    print(rep)
    assert 'transferred 458 tensors' in str(rep)


def test_strict_load_errors_name_the_keys():
    m = DETR(DETRConfig(backbone='resnet18', hidden_dim=32, nheads=2, enc_layers=1, dec_layers=1, dim_feedforward=64,
                        num_queries=5, num_classes=3))
    sd = dict(m.state_dict())
    del sd['input_proj.bias']
    sd['mask_head.lay1.weight'] = torch.zeros(2)
    with pytest.raises(ValueError, match=r'missing \(1\): input_proj.bias; unexpected \(1\): mask_head.lay1.weight'):
        load_official(sd, nheads=2)
    with pytest.raises(FileNotFoundError, match='no such checkpoint file'):
        load_official('/nonexistent/detr-r50.pth')
    with pytest.raises(ValueError, match='not a DETR state dict'):
        load_official({'model': {'foo': torch.zeros(1)}})


def test_checkpoint_file_with_args(tmp_path):
    "A training checkpoint as the official main.py writes it (with argparse args) loads with weights_only."
    import argparse
    m = DETR(DETRConfig(backbone='resnet18', hidden_dim=32, nheads=2, enc_layers=1, dec_layers=1, dim_feedforward=64,
                        num_queries=5, num_classes=3))
    p = tmp_path / 'checkpoint.pth'
    torch.save({'model': m.state_dict(), 'args': argparse.Namespace(lr=1e-4), 'epoch': 3}, p)
    m2 = load_official(p, nheads=2)
    assert m2.load_report.complete and m2.load_report.source == str(p)


@pytest.mark.parametrize('name,stem', [('resnet18', 'resnet18-f37072fd'), ('resnet50', 'resnet50-0676ba61')])
def test_torchvision_weights(tmp_path, name, stem):
    assert resnet_weights_url(name) == f'https://download.pytorch.org/models/{stem}.pth'
    model = DETR(DETRConfig(backbone=name, hidden_dim=32, nheads=2, enc_layers=1, dec_layers=1, dim_feedforward=64,
                            num_queries=5, num_classes=3))
    with pytest.raises(FileNotFoundError) as e:
        load_backbone_weights(model, tmp_path / f'{stem}.pth')
    assert resnet_weights_url(name) in str(e.value) and 'put it at' in str(e.value)
    tv = getattr(torchvision.models, name)(weights=None)
    with torch.no_grad():
        for n, b in tv.named_buffers():
            if 'running' in n:
                b.uniform_(0.5, 1.5)
    torch.save(tv.state_dict(), tmp_path / f'{stem}.pth')        # includes fc.* and num_batches_tracked
    rep = load_backbone_weights(model, tmp_path)                 # a folder: the standard file name is looked up in it
    body = model.backbone[0].body
    for k, v in body.state_dict().items():
        assert torch.equal(v, tv.state_dict()[k]), k
    assert len(rep.transferred) == len(body.state_dict())
    # the backbone now computes torchvision's features (eval mode, same numerics as BatchNorm)
    x = torch.randn(1, 3, 64, 64)
    tv.eval()
    ref = tv.layer4(tv.layer3(tv.layer2(tv.layer1(tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))))))
    with torch.no_grad():
        torch.testing.assert_close(body(x), ref.detach(), atol=1e-4, rtol=1e-4)


def test_wrong_resnet_file(tmp_path):
    model = DETR(DETRConfig(backbone='resnet34', hidden_dim=32, nheads=2, enc_layers=1, dec_layers=1,
                            dim_feedforward=64,
                            num_queries=5, num_classes=3))
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / 'r18.pth')
    with pytest.raises(ValueError, match='does not hold resnet34 weights'):
        load_backbone_weights(model, tmp_path / 'r18.pth')
