"""Issue 26, kind 4: a write that fails (a full disk, as the OS and as torch report it) leaves no temporary file, keeps
the earlier file, and says in one line which file failed and why; a user's file is replaced only when asked."""
import errno, os
from dataclasses import replace
import pytest
import torch
from detr_nb.checkpoint import save_checkpoint, load_checkpoint
from detr_nb.config import get_preset, save_config, load_config
from detr_nb.files import WriteError, atomic_write
from detr_nb.model import DETR

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
TORCH_FULL = RuntimeError('[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file data/0: '
                          'file write failed')


def half_then(error):
    "A writer that writes part of a file, then fails as a full disk does."
    def write(obj, f, *args, **kwargs):
        with open(f, 'wb') as out:
            out.write(b'half a checkpoint')
        raise error
    return write


@pytest.mark.parametrize('error, why', [
    (ENOSPC, 'No space left on device'),
    (TORCH_FULL, 'PytorchStreamWriter failed writing file data/0: file write failed')])
def test_checkpoint_write_on_a_full_disk(tmp_path, monkeypatch, error, why):
    cfg = get_preset('tiny')
    cfg = replace(cfg, model=replace(cfg.model, num_classes=4))
    model = DETR(cfg.model)
    best = save_checkpoint(tmp_path / 'model' / 'best.pth', model, cfg=cfg, step=1)
    monkeypatch.setattr(torch, 'save', half_then(error))
    with pytest.raises(WriteError) as e:
        save_checkpoint(best, model, cfg=cfg, step=2)
    msg = str(e.value)  # (torch's failure also gives the free space when the disk holds less than 1 GiB)
    assert msg.startswith(f"could not write {best}: {why}") and msg.endswith("; the earlier best.pth is kept"), msg
    assert '\n' not in msg
    assert isinstance(e.value, OSError)  # the command line turns it into one line and exit status 1
    assert sorted(p.name for p in best.parent.iterdir()) == ['best.pth']
    monkeypatch.undo()
    assert load_checkpoint(best)['step'] == 1


def test_first_write_that_fails_leaves_nothing(tmp_path):
    with pytest.raises(WriteError, match=r'notes\.txt: No space left on device$'):
        atomic_write(tmp_path / 'notes.txt', lambda tmp: (tmp.write_text('half'), (_ for _ in ()).throw(ENOSPC)))
    assert list(tmp_path.iterdir()) == []


def test_config_replaced_only_when_asked(tmp_path):
    path = save_config(get_preset('tiny'), tmp_path / 'mine.yaml')
    with pytest.raises(FileExistsError, match='mine.yaml exists'):
        save_config(get_preset('r50'), path, overwrite=False)
    assert load_config(path).model.backbone == get_preset('tiny').model.backbone
