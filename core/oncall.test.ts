import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  checkRoster,
  dayNumber,
  escalationChain,
  localToInstant,
  nextEscalationAt,
  onCallAt,
  type Roster,
  rotationAt,
  WEEKDAYS,
} from './oncall.ts';

const MEMBERS = [
  { name: 'ana', phone: '+14155550101' },
  { name: 'bo', phone: '+14155550102' },
  { name: 'cy', phone: '+14155550103' },
];

function roster(
  overrides: Partial<Omit<Roster, 'rotation'>> & { rotation?: Partial<Roster['rotation']> } = {},
): Roster {
  const { rotation, ...rest } = overrides;
  return {
    name: 'default',
    timezone: 'UTC',
    members: MEMBERS,
    overrides: [],
    ...rest,
    rotation: { period: 'daily', handoffTime: '09:00', start: '2026-01-05', ...rotation },
  };
}

const at = (iso: string) => Date.parse(iso);
const who = (r: Roster, iso: string) => onCallAt(r, at(iso)).member.name;

describe('daily rotation', () => {
  const r = roster();

  test('the first member takes the start date’s shift at the handoff time, then each in turn', () => {
    assert.equal(who(r, '2026-01-05T09:00:00Z'), 'ana');
    assert.equal(who(r, '2026-01-06T08:59:59Z'), 'ana');
    assert.equal(who(r, '2026-01-06T09:00:00Z'), 'bo');
    assert.equal(who(r, '2026-01-07T12:00:00Z'), 'cy');
    assert.equal(who(r, '2026-01-08T09:00:00Z'), 'ana', 'the order wraps around');
  });

  test('before the start the order runs backwards, so there is always someone on call', () => {
    assert.equal(who(r, '2026-01-05T08:59:00Z'), 'cy');
    assert.equal(who(r, '2026-01-04T08:59:00Z'), 'bo');
    // 35 days before the start: 35 = 11 × 3 + 2, so two places back from ana.
    assert.equal(who(r, '2025-12-01T10:00:00Z'), 'bo');
  });

  test('until is the next handoff', () => {
    const current = onCallAt(r, at('2026-01-06T13:00:00Z'));
    assert.equal(current.source, 'rotation');
    assert.equal(current.until, at('2026-01-07T09:00:00Z'));
  });

  test('a single member is always on call', () => {
    const solo = roster({ members: [MEMBERS[0]!] });
    for (const iso of ['2020-02-29T00:00:00Z', '2026-01-05T09:00:00Z', '2031-07-01T23:59:00Z']) {
      assert.equal(who(solo, iso), 'ana');
    }
  });
});

describe('weekly rotation', () => {
  test('hands over on the handoff day at the local handoff time', () => {
    const r = roster({
      timezone: 'Europe/Berlin',
      rotation: { period: 'weekly', handoffDay: 'monday', handoffTime: '10:00', start: '2026-01-05' },
    });
    // 10:00 in Berlin in January is 09:00 UTC.
    assert.equal(who(r, '2026-01-05T09:00:00Z'), 'ana');
    assert.equal(who(r, '2026-01-11T23:00:00Z'), 'ana');
    assert.equal(who(r, '2026-01-12T08:59:00Z'), 'ana');
    assert.equal(who(r, '2026-01-12T09:00:00Z'), 'bo');
    assert.equal(who(r, '2026-01-19T09:00:00Z'), 'cy');
    assert.equal(who(r, '2026-01-26T09:00:00Z'), 'ana');
    assert.equal(onCallAt(r, at('2026-01-14T00:00:00Z')).until, at('2026-01-19T09:00:00Z'));
  });

  test('a start date in mid-week belongs to the shift that began on the handoff day before it', () => {
    const r = roster({
      rotation: { period: 'weekly', handoffDay: 'monday', handoffTime: '09:00', start: '2026-01-07' },
    });
    assert.equal(who(r, '2026-01-05T09:00:00Z'), 'ana');
    assert.equal(who(r, '2026-01-05T08:59:00Z'), 'cy');
    assert.equal(who(r, '2026-01-12T09:00:00Z'), 'bo');
  });

  test('without a handoff day the weekday of the start date is used', () => {
    // 2026-01-07 is a Wednesday.
    const r = roster({ rotation: { period: 'weekly', handoffTime: '09:00', start: '2026-01-07' } });
    assert.equal(who(r, '2026-01-07T09:00:00Z'), 'ana');
    assert.equal(who(r, '2026-01-14T08:59:00Z'), 'ana');
    assert.equal(who(r, '2026-01-14T09:00:00Z'), 'bo');
  });
});

describe('daylight saving time', () => {
  test('the handoff stays at the same local time when the clocks change (London, 23-hour day)', () => {
    const r = roster({ timezone: 'Europe/London', rotation: { handoffTime: '09:00', start: '2026-03-27' } });
    // 2026-03-29 01:00 GMT → 02:00 BST.
    assert.equal(onCallAt(r, at('2026-03-28T12:00:00Z')).until, at('2026-03-29T08:00:00Z'));
    assert.equal(who(r, '2026-03-29T07:59:00Z'), 'bo');
    assert.equal(who(r, '2026-03-29T08:00:00Z'), 'cy');
  });

  test('a handoff time the clocks skip happens when they land (New York, 02:30 on spring-forward day)', () => {
    const r = roster({
      timezone: 'America/New_York',
      rotation: { handoffTime: '02:30', start: '2026-03-07' },
    });
    // 2026-03-08 02:00 EST → 03:00 EDT, i.e. at 07:00 UTC.
    assert.equal(onCallAt(r, at('2026-03-07T20:00:00Z')).until, at('2026-03-08T07:00:00Z'));
    assert.equal(who(r, '2026-03-08T06:59:00Z'), 'ana');
    assert.equal(who(r, '2026-03-08T07:00:00Z'), 'bo');
    assert.equal(who(r, '2026-03-09T06:29:00Z'), 'bo', '02:30 EDT the next day');
    assert.equal(who(r, '2026-03-09T06:30:00Z'), 'cy');
  });

  test('a handoff time the clocks repeat happens at its first occurrence and never flips back', () => {
    const r = roster({
      timezone: 'America/New_York',
      rotation: { handoffTime: '01:30', start: '2026-10-31' },
    });
    // 2026-11-01 02:00 EDT → 01:00 EST: 01:30 is 05:30 UTC (EDT), then again 06:30 UTC (EST).
    assert.equal(onCallAt(r, at('2026-10-31T20:00:00Z')).until, at('2026-11-01T05:30:00Z'));
    assert.equal(who(r, '2026-11-01T05:29:00Z'), 'ana');
    for (const iso of [
      '2026-11-01T05:30:00Z',
      '2026-11-01T06:00:00Z',
      '2026-11-01T06:15:00Z',
      '2026-11-01T06:45:00Z',
    ]) {
      assert.equal(who(r, iso), 'bo', iso);
    }
    assert.equal(onCallAt(r, at('2026-11-01T06:15:00Z')).until, at('2026-11-02T06:30:00Z'));
  });

  test('half-hour shifts are handled too (Lord Howe Island)', () => {
    // 2026-10-04 02:00 → 02:30 local (+10:30 → +11:00).
    const r = roster({
      timezone: 'Australia/Lord_Howe',
      rotation: { handoffTime: '02:15', start: '2026-10-03' },
    });
    const boundary = onCallAt(r, at('2026-10-03T12:00:00Z')).until;
    assert.equal(boundary, at('2026-10-03T15:30:00Z'), 'the clocks land at 02:30 local = 15:30 UTC');
  });
});

describe('localToInstant', () => {
  test('midnight in Sydney the night before the clocks go back is still on summer time', () => {
    // Clocks go back at 03:00 on 6 April 2025; midnight that day is 13:00 UTC (UTC+11), not 14:00.
    assert.equal(localToInstant(dayNumber('2025-04-06'), 0, 'Australia/Sydney'), at('2025-04-05T13:00:00Z'));
  });

  test('is exact where the local time exists once', () => {
    assert.equal(localToInstant(dayNumber('2026-07-01'), 9 * 60, 'Asia/Kolkata'), at('2026-07-01T03:30:00Z'));
    assert.equal(
      localToInstant(dayNumber('2026-07-01'), 9 * 60, 'Europe/London'),
      at('2026-07-01T08:00:00Z'),
    );
    assert.equal(
      localToInstant(dayNumber('2026-01-01'), 0, 'Pacific/Kiritimati'),
      at('2025-12-31T10:00:00Z'),
    );
  });
});

describe('handoffs, for any zone, time, period and start', () => {
  const ZONES = [
    'UTC',
    'Europe/London',
    'America/New_York',
    'Australia/Sydney',
    'Asia/Kolkata',
    'America/Santiago',
    'Australia/Lord_Howe',
  ];
  const arbitraryRoster = fc
    .record({
      timezone: fc.constantFrom(...ZONES),
      members: fc.integer({ min: 1, max: 5 }),
      period: fc.constantFrom('daily' as const, 'weekly' as const),
      hour: fc.integer({ min: 0, max: 23 }),
      minute: fc.constantFrom(0, 15, 30, 45),
      startOffset: fc.integer({ min: -400, max: 400 }),
      handoffDay: fc.option(fc.constantFrom(...WEEKDAYS), { nil: undefined }),
    })
    .map(({ timezone, members, period, hour, minute, startOffset, handoffDay }) => {
      const start = new Date(at('2026-01-01T00:00:00Z') + startOffset * 86_400_000)
        .toISOString()
        .slice(0, 10);
      return roster({
        timezone,
        members: Array.from({ length: members }, (_, i) => ({ name: `m${i}`, phone: `+1415555010${i}` })),
        rotation: {
          period,
          handoffTime: `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`,
          start,
          ...(period === 'weekly' && handoffDay ? { handoffDay } : {}),
        },
      });
    });
  const instant = fc.integer({ min: at('2025-01-01T00:00:00Z'), max: at('2028-01-01T00:00:00Z') });

  test('the member on call only changes at `until`, to the next member in order', () => {
    fc.assert(
      fc.property(arbitraryRoster, instant, (r, t) => {
        const now = rotationAt(r, t);
        const period = r.rotation.period === 'weekly' ? 7 : 1;
        assert.ok(now.until > t, 'until is in the future');
        // A shift lasts its period, give or take a daylight-saving change.
        assert.ok(now.until - t <= period * 86_400_000 + 3 * 3_600_000, 'until is within one period');
        assert.equal(rotationAt(r, now.until - 1).index, now.index, 'same member until the handoff');
        assert.equal(
          rotationAt(r, now.until).index,
          (now.index + 1) % r.members.length,
          'the next one at it',
        );
      }),
      { numRuns: 300 },
    );
  });

  test('time moving forward never brings back the previous member early', () => {
    fc.assert(
      fc.property(arbitraryRoster, instant, fc.integer({ min: 1, max: 6 * 3_600_000 }), (r, t, step) => {
        const first = rotationAt(r, t);
        const later = rotationAt(r, t + step);
        if (t + step < first.until) assert.equal(later.index, first.index);
      }),
      { numRuns: 300 },
    );
  });
});

describe('overrides', () => {
  const base = roster();

  test('an override in force wins over the rotation, until it ends', () => {
    const r = {
      ...base,
      overrides: [{ id: 'o1', member: 'cy', from: '2026-01-05T12:00:00Z', to: '2026-01-05T18:00:00Z' }],
    };
    assert.equal(who(r, '2026-01-05T11:59:00Z'), 'ana');
    const during = onCallAt(r, at('2026-01-05T12:00:00Z'));
    assert.deepEqual(
      [during.member.name, during.source, during.until],
      ['cy', 'override', at('2026-01-05T18:00:00Z')],
    );
    assert.equal(who(r, '2026-01-05T18:00:00Z'), 'ana', 'the end is exclusive');
  });

  test('of two overlapping overrides the one that started later wins, and cuts the other short', () => {
    const r = {
      ...base,
      overrides: [
        { id: 'weekend', member: 'bo', from: '2026-01-05T10:00:00Z', to: '2026-01-05T20:00:00Z' },
        { id: 'afternoon', member: 'cy', from: '2026-01-05T14:00:00Z', to: '2026-01-05T16:00:00Z' },
      ],
    };
    assert.equal(onCallAt(r, at('2026-01-05T11:00:00Z')).until, at('2026-01-05T14:00:00Z'));
    assert.equal(who(r, '2026-01-05T15:00:00Z'), 'cy');
    assert.equal(who(r, '2026-01-05T17:00:00Z'), 'bo');
  });
});

describe('escalation chain', () => {
  test('without an escalation policy only the member on call is paged', () => {
    assert.deepEqual(
      escalationChain(roster(), at('2026-01-06T10:00:00Z')).map((m) => m.name),
      ['bo'],
    );
  });

  test('with one, the following members in rotation order, each once', () => {
    const r = roster({ escalation: { afterMinutes: 5 } });
    assert.deepEqual(
      escalationChain(r, at('2026-01-07T10:00:00Z')).map((m) => m.name),
      ['cy', 'ana', 'bo'],
    );
  });

  test('an override member comes first, then the rotation’s member', () => {
    const r = roster({
      escalation: { afterMinutes: 5 },
      overrides: [{ id: 'o', member: 'cy', from: '2026-01-05T00:00:00Z', to: '2026-01-06T00:00:00Z' }],
    });
    assert.deepEqual(
      escalationChain(r, at('2026-01-05T10:00:00Z')).map((m) => m.name),
      ['cy', 'ana', 'bo'],
    );
  });

  test('maxLevels caps how many more are paged', () => {
    const r = roster({ escalation: { afterMinutes: 5, maxLevels: 1 } });
    assert.deepEqual(
      escalationChain(r, at('2026-01-05T10:00:00Z')).map((m) => m.name),
      ['ana', 'bo'],
    );
  });

  test('the next level is due afterMinutes later while one is left', () => {
    const r = roster({ escalation: { afterMinutes: 5 } });
    assert.equal(nextEscalationAt(r, 3, 0, 1000), 1000 + 300_000);
    assert.equal(nextEscalationAt(r, 3, 1, 1000), 1000 + 300_000);
    assert.equal(nextEscalationAt(r, 3, 2, 1000), null);
    assert.equal(nextEscalationAt(roster(), 1, 0, 1000), null);
  });
});

describe('checkRoster', () => {
  test('a good roster has no problems', () => {
    assert.deepEqual(checkRoster(roster({ escalation: { afterMinutes: 10, maxLevels: 2 } })), []);
  });

  test('names every problem with a pointer', () => {
    const bad: Roster = {
      name: 'Bad Name',
      timezone: 'Mars/Olympus_Mons',
      members: [
        { name: 'ana', phone: '+14155550101' },
        { name: 'ana', phone: '4155550102' },
      ],
      rotation: { period: 'daily', handoffTime: '24:00', start: '2026-02-30', handoffDay: 'monday' },
      overrides: [
        { id: 'x', member: 'zed', from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' },
        { id: 'x', member: 'ana', from: 'soon', to: '2026-01-01T00:00:00Z' },
      ],
      escalation: { afterMinutes: 0, maxLevels: 2 },
    };
    const fields = checkRoster(bad).map((e) => e.field);
    assert.deepEqual(fields.sort(), [
      '/escalation/afterMinutes',
      '/escalation/maxLevels',
      '/members/1/name',
      '/members/1/phone',
      '/name',
      '/overrides/0/member',
      '/overrides/0/to',
      '/overrides/1/from',
      '/overrides/1/id',
      '/overrides/1/to',
      '/rotation/handoffDay',
      '/rotation/handoffTime',
      '/rotation/start',
      '/timezone',
    ]);
  });

  test('refuses a number with the shape of E.164 that no country issues', () => {
    const r = roster({
      members: [
        { name: 'ana', phone: '+14155550101' },
        { name: 'bo', phone: '+10005550123' },
      ],
    });
    assert.deepEqual(
      checkRoster(r).map((e) => e.field),
      ['/members/1/phone'],
    );
  });
});
