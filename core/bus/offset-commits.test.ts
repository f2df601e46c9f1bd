import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OffsetCommits, type PartitionOffset } from './offset-commits.ts';

function committer(fail: () => boolean = () => false) {
  const requests: PartitionOffset[][] = [];
  const commits = new OffsetCommits({
    intervalMs: 60_000,
    groupId: 'g',
    logger: { warn() {}, debug() {} },
    commit: async (offsets) => {
      if (fail()) throw new Error('coordinator moved');
      requests.push(offsets);
    },
  });
  return { commits, requests };
}

test('offsets of many partitions and batches go in one request, the latest per partition', async () => {
  const { commits, requests } = committer();
  commits.record('a', 0, '5');
  commits.record('a', 0, '9');
  commits.record('a', 1, '3');
  commits.record('b', 0, '7');
  await commits.flush();
  commits.stop();
  assert.equal(requests.length, 1);
  assert.deepEqual(requests[0]!.map((o) => `${o.topic}:${o.partition}=${o.offset}`).sort(), [
    'a:0=9',
    'a:1=3',
    'b:0=7',
  ]);
});

test('a failed commit is carried by the next one unless a later offset replaced it', async () => {
  let failing = true;
  const { commits, requests } = committer(() => failing);
  commits.record('a', 0, '5');
  commits.record('a', 1, '2');
  await commits.flush();
  assert.equal(requests.length, 0);
  commits.record('a', 1, '4');
  failing = false;
  await commits.flush();
  commits.stop();
  assert.deepEqual(requests[0]!.map((o) => `${o.partition}=${o.offset}`).sort(), ['0=5', '1=4']);
});

test('a forgotten partition is not committed', async () => {
  const { commits, requests } = committer();
  commits.record('a', 0, '5');
  commits.record('a', 1, '6');
  commits.forget('a', 0);
  assert.equal(commits.has('a', 0), false);
  await commits.flush();
  commits.stop();
  assert.deepEqual(requests, [[{ topic: 'a', partition: 1, offset: '6' }]]);
});
