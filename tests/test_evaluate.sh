#!/usr/bin/env bash
# The evaluator end to end on small random data made here: train_classifier
# trains and saves a classifier, evaluate scores an IDX file (the test
# images against themselves: FID 0), a run folder and generate's 64x64
# samples, and refuses bad input with clear messages.
# usage: test_evaluate.sh BIN_DIR
set -uo pipefail
bin=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
. "$here/idx_data.sh"
. "$here/check.sh"

make_split data train 256
make_split data t10k 120
common=(--data data --no-verify --threads 2)
check "train the classifier" "$bin/train_classifier" "${common[@]}" --epochs 2 --slow-epochs 1 --batch 32 \
    --out cls.safetensors > train.log
check "reports test accuracy per epoch" test "$(grep -c 'test accuracy' train.log)" -eq 3
check "the last epoch at a tenth" grep -q '^epoch 2/2 (lr 0.0001)' train.log
check "saved" test -s cls.safetensors
scores=(--classifier cls.safetensors --kid-size 60 --kid-subsets 3)

check "the test images against themselves" "$bin/evaluate" data/t10k-images-idx3-ubyte "${common[@]}" "${scores[@]}" \
    > self.log
check "FID 0" awk '/^FID / { f = $2 < 0 ? -$2 : $2; found = 1; bad = f > 1e-3 } END { exit bad || !found }' self.log
check "classes line" grep -Eq '^classes 0:[0-9.]+% 1:' self.log
check "entropy line" grep -Eq '^entropy [0-9.]+ bits' self.log
check "classes over 5%" grep -Eq '^classes with at least 5% of the samples: [0-9]+ of 10$' self.log
check "classifier accuracy" grep -Eq '^classifier cls.safetensors: test accuracy [0-9.]+%$' self.log

check "a run" "$bin/train_mnist" "${common[@]}" --batch 32 --max-steps 2 --out run > train_run.log
check "scores a run folder" "$bin/evaluate" run "${common[@]}" "${scores[@]}" --count 200 > run.log
check "says what it drew" grep -q "200 samples of run's dcgan generator (eval mode, seed 1)" run.log
check "its FID is positive" awk '/^FID / { found = 1; bad = !($2 > 0) } END { exit bad || !found }' run.log
check "64x64 run" "$bin/train_mnist" "${common[@]}" --batch 16 --max-steps 1 --model dcgan64 --out run64 > /dev/null
check "generate 64x64" "$bin/generate" --checkpoint run64 --count 80 --out big.idx > /dev/null
check "resized to 28x28" "$bin/evaluate" --samples big.idx "${common[@]}" "${scores[@]}" > big.log
check "said so" grep -q "80 samples of 64x64 from big.idx" big.log

# the training programs score their generator, every epoch here, without
# changing the training; evaluate on the run draws from the run's seed
check "scored training" "$bin/train_mnist" "${common[@]}" --batch 32 --epochs 2 --eval-every 1 --eval-count 200 \
    --seed 3 --classifier cls.safetensors --out scored > scored.log
check "scores printed" test "$(grep -c '^epoch [12] scored on 200 samples: FID [0-9.]*, KID' scored.log)" -eq 2
check "scores.csv" test "$(wc -l < scored/scores.csv)" -eq 3
check "scores.csv header" grep -q '^epoch,step,samples,fid,kid,kid_std,entropy_bits,classes_over_5pct$' scored/scores.csv
fid_of() { awk -F, 'END { printf "%.3f", $4 }' "$1"; }
check "evaluate on the run" "$bin/evaluate" scored "${common[@]}" --classifier cls.safetensors --count 200 > rescored.log
check "gives its last score" awk -v want="$(fid_of scored/scores.csv)" \
    '/^FID / { found = 1; d = $2 - want; bad = d < -0.002 || d > 0.002 } END { exit bad || !found }' rescored.log
check "from the run's seed" grep -q "200 samples of scored's dcgan generator (eval mode, seed 3)" rescored.log
check "another seed" "$bin/evaluate" scored "${common[@]}" --classifier cls.safetensors --count 200 --seed 1 > seed1.log
check "draws from it" grep -q "200 samples of scored's dcgan generator (eval mode, seed 1)" seed1.log
check "unscored training" "$bin/train_mnist" "${common[@]}" --batch 32 --epochs 2 --no-eval --seed 3 --out unscored \
    > unscored.log
check "the same training" cmp scored/checkpoint.safetensors unscored/checkpoint.safetensors
check "says it scores nothing" grep -q '^  evaluation    off$' unscored.log
check "no classifier: off" grep -q 'evaluation    off: no classifiers/mnist.safetensors (build/apps/train_classifier' \
    train_run.log
fails_with "a named classifier that is not there" "nothere.safetensors" \
    "$bin/train_mnist" "${common[@]}" --classifier nothere.safetensors --out nothere
# the default classifier without the test split to score against: a warning
mkdir -p classifiers trainonly && cp cls.safetensors classifiers/mnist.safetensors && cp data/train-* trainonly/
check "no test split: trains on" "$bin/train_mnist" --data trainonly --no-verify --threads 2 --batch 32 --epochs 1 \
    --out unscorable > unscorable.log 2> unscorable.err
check "and warns" grep -q "warning: the run is not scored: trainonly: no t10k-images-idx3-ubyte" unscorable.err
rm -r classifiers

# the GAN vs DCGAN report takes the scores of both runs (with the data
# set's classifier where the trainers look for it)
mkdir -p classifiers && cp cls.safetensors classifiers/mnist.safetensors
check "compare scores both" "$bin/compare" --data data --no-verify --batch 32 --epochs 1 --threads 2 --eval-count 200 \
    --out CMP > /dev/null
check "the report's FID row is scores.csv's" \
    grep -qF "| FID | $(fid_of CMP/gan/scores.csv) | $(fid_of CMP/dcgan/scores.csv) |" CMP/report.md
check "and concludes from it" grep -q "^- The evaluator puts .*'s samples closer to the test images: FID" CMP/report.md
rm -r classifiers

# bad input
fails_with "no classifier" "train it once with: build/apps/train_classifier --dataset mnist" \
    "$bin/evaluate" big.idx "${common[@]}" --classifier missing.safetensors
{ printf '\x00\x00\x08\x04'; be32 2; be32 28; be32 28; be32 3; head -c $((2 * 28 * 28 * 3)) /dev/urandom; } > colour.idx
fails_with "colour samples" "the classifier takes grey images" "$bin/evaluate" colour.idx "${common[@]}" "${scores[@]}"
fails_with "another data set's classifier" "was trained on mnist, not fashion-mnist" \
    "$bin/evaluate" big.idx --dataset fashion-mnist "${common[@]}" "${scores[@]}"
fails_with "no samples" "name the samples" "$bin/evaluate" "${common[@]}"
make_data badlabels 64
cp data/t10k-* badlabels/
fails_with "labels over 9" "the classifier takes 0 to 9" "$bin/train_classifier" --data badlabels --no-verify --out x
check "a damaged classifier file" bash -c "head -c 1000 cls.safetensors > cut.safetensors"
fails_with "a cut classifier" "cut.safetensors" "$bin/evaluate" big.idx "${common[@]}" --classifier cut.safetensors
finish test_evaluate
