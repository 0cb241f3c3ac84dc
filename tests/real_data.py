"""Where the tests find the real datasets, by the rule of the notebooks: `data/` of the checkout, or the folder that
the environment variable `DETR_NB_DATA` names. A test that needs one skips, saying where to download it, when it
is absent."""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get('DETR_NB_DATA') or REPO / 'data')
COCO_REAL = DATA / 'coco_real_subset'
RACCOON = DATA / 'raccoon_voc'
REFERENCE = DATA / 'reference'  # the official code's outputs on a seeded tiny model (not distributed)
COCO_REAL_WHERE = (f'download the annotations/, train2017/ and val2017/ folders of '
                   f'https://github.com/zzowenzz/COCO_Tiny into {COCO_REAL} (or set DETR_NB_DATA)')
REFERENCE_WHERE = (f'the official parity files (official_parity_tiny.pt, seeded_weights.py, '
                   f'official_detr_state_dict_keys.json) are not in {REFERENCE}; they are not distributed with detr_nb')
RACCOON_WHERE = (f'download the images/, annotations/ and data/ folders of https://github.com/datitran/raccoon_dataset '
                 f'into {RACCOON} (or set DETR_NB_DATA)')
