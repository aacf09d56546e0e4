/**
 * `FORMULA1_ADAPTER`, as Lightstreamer's Race Telemetry demo expects it: one simulated car,
 * `P_driver_1` (MERGE) with a telemetry packet every 100 ms — `TIME` (ms into the lap), `Distance`
 * (km), `Speed` (km/h), `Rpm`, `Gear_output`, `ABS`, `LAP` — and `L_driver_1` (DISTINCT) with one
 * event per completed lap — `lap`, `lapTime` (ms), `avgSpeed` and `avgSpeedTot` (km/h) — on a
 * 4.8 km lap. As in the demo's adapter the car runs while its packets are subscribed (on demand,
 * on the shard leading `P_driver_1`), which also publishes the laps; `L_driver_1` alone feeds
 * nothing, and its snapshot is the laps the bus holds.
 */
import type { Bus } from '../../bus/bus.ts';
import { onDemandBusItem, type ItemListener } from '../adapter.ts';
import type { DemoDataAdapter } from './demo-data-adapter.ts';

export const TELEMETRY_ADAPTER = 'FORMULA1_ADAPTER';
export const PACKET_ITEM = 'P_driver_1';
export const LAP_ITEM = 'L_driver_1';
export const PACKET_FIELDS = ['TIME', 'Distance', 'Speed', 'Rpm', 'Gear_output', 'ABS', 'LAP'] as const;
export const LAP_FIELDS = ['lap', 'lapTime', 'avgSpeed', 'avgSpeedTot'] as const;
export const LAP_KM = 4.8;
const PACKET_INTERVAL_MS = 100;
/** The speed the car wanders around, and how far from it (km/h). */
const CRUISE_SPEED = 215;
const SPEED_SPREAD = 135;
/** Speeds (km/h) where the car shifts up, and each gear's rpm per km/h above its floor. */
const GEAR_SHIFTS = [90, 150, 220, 300, 320];
const GEAR_RATIOS = [250, 400, 300, 250, 1000, 660];
const IDLE_RPM = 2000;
const ABS_BASE = 11323;

export interface CarState {
  /** ms since the race started, and since the lap started. */
  readonly raceMs: number;
  readonly lapStartMs: number;
  readonly distanceKm: number;
  readonly speed: number;
  readonly lap: number;
}

export interface Lap {
  readonly lap: number;
  readonly lapTime: number;
  readonly avgSpeed: number;
  readonly avgSpeedTot: number;
}

export const START: CarState = { raceMs: 0, lapStartMs: 0, distanceKm: 0, speed: 130, lap: 1 };

/** The speed's next step: a random walk pulled back towards the cruise speed the farther it strays. */
export function nextSpeed(speed: number, random: () => number = Math.random): number {
  const offset = (speed - CRUISE_SPEED) / SPEED_SPREAD;
  const away = Math.sign(offset) || 1;
  const pull = Math.min(1, Math.abs(offset)) ** 3;
  const direction = random() < (1 - pull) / 2 ? away : -away;
  return speed + direction * Math.floor(random() * (Math.floor(CRUISE_SPEED / 100) + 1));
}

export function gearOf(speed: number): number {
  const index = GEAR_SHIFTS.findIndex((shift) => speed < shift);
  return index < 0 ? GEAR_SHIFTS.length + 1 : index + 1;
}

export function rpmOf(speed: number): number {
  const gear = gearOf(speed);
  const floor = gear === 1 ? 0 : GEAR_SHIFTS[gear - 2];
  return IDLE_RPM + GEAR_RATIOS[gear - 1] * (speed - floor);
}

/** The car `elapsedMs` later; `lap` is set when this step completed one. */
export function drive(car: CarState, elapsedMs: number, previousLap: Lap | null, random?: () => number): { car: CarState; lap: Lap | null } {
  const speed = nextSpeed(car.speed, random);
  const raceMs = car.raceMs + elapsedMs;
  const distanceKm = car.distanceKm + (speed * elapsedMs) / 3_600_000;
  const lapNumber = Math.floor(distanceKm / LAP_KM) + 1;
  if (lapNumber === car.lap) return { car: { ...car, raceMs, distanceKm, speed }, lap: null };
  const lapTime = raceMs - car.lapStartMs;
  const avgSpeed = (LAP_KM / lapTime) * 3_600_000;
  const laps = previousLap ? previousLap.lap + 1 : 1;
  // Whole laps over the whole time: the previous average tells the time the earlier laps took.
  const earlierHours = previousLap ? (previousLap.lap * LAP_KM) / previousLap.avgSpeedTot : 0;
  const avgSpeedTot = (laps * LAP_KM) / (earlierHours + lapTime / 3_600_000);
  return { car: { raceMs, lapStartMs: raceMs, distanceKm, speed, lap: lapNumber }, lap: { lap: laps, lapTime, avgSpeed, avgSpeedTot } };
}

export function packetOf(car: CarState): Record<(typeof PACKET_FIELDS)[number], string> {
  return {
    TIME: String(car.raceMs - car.lapStartMs),
    Distance: String(car.distanceKm),
    Speed: String(car.speed),
    Rpm: String(rpmOf(car.speed)),
    Gear_output: String(gearOf(car.speed)),
    ABS: String(ABS_BASE + car.lap),
    LAP: String(car.lap),
  };
}

/** `adapterSet`: the set it serves in, which names the lap item in the bus. */
export function createTelemetryAdapter(adapterSet: string): DemoDataAdapter {
  const lapItem = onDemandBusItem(adapterSet, TELEMETRY_ADAPTER, LAP_ITEM);
  let bus: Bus | null = null;
  let timer: NodeJS.Timeout | null = null;
  const halt = () => {
    if (timer) clearInterval(timer);
    timer = null;
  };
  return {
    name: TELEMETRY_ADAPTER,
    hasItem: (item) => item === PACKET_ITEM || item === LAP_ITEM,
    fieldsOf: (item) => (item === PACKET_ITEM ? PACKET_FIELDS : LAP_FIELDS),
    allowsMode: (item, mode) => mode === (item === PACKET_ITEM ? 'MERGE' : 'DISTINCT'),
    isSnapshotAvailable: (item) => item === PACKET_ITEM,
    subscribe(item, listener: ItemListener) {
      if (item !== PACKET_ITEM) return;
      halt();
      // Each lead starts a race of its own, as the demo's adapter starts one per subscription.
      let car = START;
      let lastLap: Lap | null = null;
      let last = Date.now();
      listener.update(packetOf(car), true);
      listener.endOfSnapshot();
      timer = setInterval(() => {
        const now = Date.now();
        const step = drive(car, now - last, lastLap);
        last = now;
        car = step.car;
        if (step.lap) {
          lastLap = step.lap;
          const { lap, lapTime, avgSpeed, avgSpeedTot } = step.lap;
          bus?.publish(lapItem, { lap: String(lap), lapTime: String(lapTime), avgSpeed: String(avgSpeed), avgSpeedTot: String(avgSpeedTot) }).catch(() => {});
        }
        listener.update(packetOf(car), false);
      }, PACKET_INTERVAL_MS);
    },
    unsubscribe(item) {
      if (item === PACKET_ITEM) halt();
    },
    start(b) {
      bus = b;
    },
    stop() {
      halt();
      bus = null;
    },
  };
}
