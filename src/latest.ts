/**
 * Keeps only the newest answer when requests overlap: an answer to an older
 * request that arrives after a newer one's is dropped, so old data never
 * overwrites new. The secrets list and the injector's environment both
 * refresh this way.
 */
export class LatestAnswer {
  /**
   * Number a new request.
   */
  begin(): number {
    return ++this._requested;
  }

  /**
   * Whether the answer to `request` may be applied: it may unless the
   * answer to a newer request was applied already. If it may, it becomes
   * the newest applied.
   */
  accept(request: number): boolean {
    if (request < this._applied) {
      return false;
    }
    this._applied = request;
    return true;
  }

  private _requested = 0;
  private _applied = 0;
}
